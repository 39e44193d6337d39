"""Ready-to-paste client setups for an endpoint (Settings, and the dashboard's first call)."""

EXAMPLE_ANTHROPIC_MODEL = "claude-sonnet-4-5"
EXAMPLE_OPENAI_MODEL = "gpt-5-mini"


def setup_snippets(base_url: str, require_key: bool = False) -> list[dict]:
    """Ready-to-paste setup for each client, pointed at an endpoint's base URL.

    For a locked endpoint each also sends the caller's Codecosts key (from CODECOSTS_KEY)
    in x-codecosts-key: Claude Code through ANTHROPIC_CUSTOM_HEADERS, the SDKs as default
    headers.
    """
    openai_url = f"{base_url}/openai/v1"
    claude_code = f"export ANTHROPIC_BASE_URL={base_url}\n"
    python_import = curl_header = ""
    python_args = f'base_url="{base_url}"'
    openai_args = f'base_url="{openai_url}"'
    typescript_args = f'{{ baseURL: "{base_url}" }}'
    if require_key:
        claude_code += 'export ANTHROPIC_CUSTOM_HEADERS="x-codecosts-key: $CODECOSTS_KEY"\n'
        python_import = "import os\n\n"
        headers = 'default_headers={"x-codecosts-key": os.environ["CODECOSTS_KEY"]}'
        python_args = f"\n    {python_args},\n    {headers},\n"
        openai_args = f"\n    {openai_args},\n    {headers},\n"
        typescript_args = (
            f'{{\n  baseURL: "{base_url}",\n'
            '  defaultHeaders: { "x-codecosts-key": process.env.CODECOSTS_KEY },\n}'
        )
        curl_header = '  -H "x-codecosts-key: $CODECOSTS_KEY" \\\n'
    return [
        {
            "key": "claude-code",
            "label": "Claude Code",
            "code": f"{claude_code}claude",
        },
        {
            "key": "python",
            "label": "Python SDK",
            "code": (
                f"{python_import}import anthropic\n\n"
                f"client = anthropic.Anthropic({python_args})  # key: ANTHROPIC_API_KEY\n"
                "message = client.messages.create(\n"
                f'    model="{EXAMPLE_ANTHROPIC_MODEL}",\n'
                "    max_tokens=1024,\n"
                '    messages=[{"role": "user", "content": "Hello, Claude"}],\n'
                ")\n"
                "print(message.content[0].text)"
            ),
        },
        {
            "key": "typescript",
            "label": "TypeScript SDK",
            "code": (
                'import Anthropic from "@anthropic-ai/sdk";\n\n'
                f"const client = new Anthropic({typescript_args}); // key: ANTHROPIC_API_KEY\n"
                "const message = await client.messages.create({\n"
                f'  model: "{EXAMPLE_ANTHROPIC_MODEL}",\n'
                "  max_tokens: 1024,\n"
                '  messages: [{ role: "user", content: "Hello, Claude" }],\n'
                "});\n"
                "console.log(message.content);"
            ),
        },
        {
            "key": "curl",
            "label": "curl",
            "code": (
                f"curl {base_url}/v1/messages \\\n"
                '  -H "x-api-key: $ANTHROPIC_API_KEY" \\\n'
                f"{curl_header}"
                '  -H "anthropic-version: 2023-06-01" \\\n'
                '  -H "content-type: application/json" \\\n'
                f'  -d \'{{"model": "{EXAMPLE_ANTHROPIC_MODEL}", "max_tokens": 256, '
                '"messages": [{"role": "user", "content": "Hello"}]}\''
            ),
        },
        {
            "key": "openai",
            "label": "OpenAI SDK",
            "code": (
                f"# or: export OPENAI_BASE_URL={openai_url}\n"
                f"{python_import}from openai import OpenAI\n\n"
                f"client = OpenAI({openai_args})  # key: OPENAI_API_KEY\n"
                "response = client.chat.completions.create(\n"
                f'    model="{EXAMPLE_OPENAI_MODEL}",\n'
                '    messages=[{"role": "user", "content": "Hello"}],\n'
                '    stream_options={"include_usage": True}, stream=True,\n'
                ")"
            ),
        },
    ]


def attribution_snippets(base_url: str, require_key: bool = False) -> list[dict]:
    """How each client says who calls and on what: a person, tags and properties.

    A locked endpoint's key already names its person (x-codecosts-user is then ignored),
    so there the snippets send the key instead of a name.
    """
    who = ("x-codecosts-key", "$CODECOSTS_KEY") if require_key else ("x-codecosts-user", "$USER")
    pairs = [who, ("x-codecosts-tags", "refactor,backend"), ("x-codecosts-property-repo", "shop")]
    python_who = 'os.environ["CODECOSTS_KEY"]' if require_key else 'os.environ["USER"]'
    typescript_who = "process.env.CODECOSTS_KEY" if require_key else "process.env.USER"
    python_headers = (
        "default_headers={\n"
        f'        "{who[0]}": {python_who},\n'
        '        "x-codecosts-tags": "refactor,backend",\n'
        '        "x-codecosts-property-repo": "shop",\n'
        "    },\n"
    )
    custom_headers = "\n".join(f"{name}: {value}" for name, value in pairs)
    return [
        {
            "key": "claude-code",
            "label": "Claude Code",
            "code": (
                f"export ANTHROPIC_BASE_URL={base_url}\n"
                "# Newline-separated \"Name: Value\" pairs, sent on every call\n"
                f'export ANTHROPIC_CUSTOM_HEADERS="{custom_headers}"\n'
                "# Say what each call is: main, subagent, compaction… and the agent type\n"
                "export CLAUDE_CODE_GATEWAY_HINT_HEADERS=1\n"
                "claude"
            ),
        },
        {
            "key": "python",
            "label": "Python SDK",
            "code": (
                "import os\n\nimport anthropic\n\n"
                "client = anthropic.Anthropic(\n"
                f'    base_url="{base_url}",\n'
                f"    {python_headers}"
                ")\n"
                "# One call's own: client.messages.create(..., "
                'extra_headers={"x-codecosts-property-ticket": "ENG-42"})'
            ),
        },
        {
            "key": "typescript",
            "label": "TypeScript SDK",
            "code": (
                'import Anthropic from "@anthropic-ai/sdk";\n\n'
                "const client = new Anthropic({\n"
                f'  baseURL: "{base_url}",\n'
                "  defaultHeaders: {\n"
                f'    "{who[0]}": {typescript_who},\n'
                '    "x-codecosts-tags": "refactor,backend",\n'
                '    "x-codecosts-property-repo": "shop",\n'
                "  },\n"
                "});\n"
                "// One call's own: client.messages.create({...}, "
                '{ headers: { "x-codecosts-property-ticket": "ENG-42" } });'
            ),
        },
        {
            "key": "curl",
            "label": "curl",
            "code": (
                f"curl {base_url}/v1/messages \\\n"
                '  -H "x-api-key: $ANTHROPIC_API_KEY" \\\n'
                + "".join(f'  -H "{name}: {value}" \\\n' for name, value in pairs)
                + '  -H "anthropic-version: 2023-06-01" \\\n'
                '  -H "content-type: application/json" \\\n'
                f'  -d \'{{"model": "{EXAMPLE_ANTHROPIC_MODEL}", "max_tokens": 256, '
                '"messages": [{"role": "user", "content": "Hello"}]}\''
            ),
        },
        {
            "key": "openai",
            "label": "OpenAI SDK",
            "code": (
                "import os\n\nfrom openai import OpenAI\n\n"
                "client = OpenAI(\n"
                f'    base_url="{base_url}/openai/v1",\n'
                f"    {python_headers}"
                ")"
            ),
        },
    ]

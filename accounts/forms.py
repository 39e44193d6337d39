"""Forms of the account pages. They validate input; services do the writes."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.forms.utils import ErrorDict

from accounts.services import ORGANIZATION_NAME_MAX_LENGTH
from accounts.throttles import THROTTLED_MESSAGE


class ThrottledFormMixin:
    """Refuse a bound form, unvalidated, when its view found the sender over a throttle.

    Validating would answer the very question being throttled (is this the password,
    is this username taken), so nothing is validated: the form has one error.
    """

    throttled = False

    def full_clean(self):
        if not (self.is_bound and self.throttled):
            return super().full_clean()
        self._errors = ErrorDict(renderer=self.renderer)
        self.cleaned_data = {}
        self.add_error(None, forms.ValidationError(THROTTLED_MESSAGE, code="throttled"))
        return None


class _RequestThrottledMixin(ThrottledFormMixin):
    """Login forms get the request (the admin builds its own); the view marks it throttled."""

    @property
    def throttled(self) -> bool:
        return getattr(self.request, "login_throttled", False)


class LoginForm(_RequestThrottledMixin, AuthenticationForm):
    pass


class AdminLoginForm(_RequestThrottledMixin, AdminAuthenticationForm):
    pass


class SignupForm(ThrottledFormMixin, forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    organization_name = forms.CharField(
        label="Organization name",
        required=False,
        max_length=ORGANIZATION_NAME_MAX_LENGTH,
        help_text="Optional; defaults to “<username>'s organization”.",
    )

    def __init__(self, *args, invited: bool = False, throttled: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.throttled = throttled
        if invited:
            # The invitation decides the organization.
            del self.fields["organization_name"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        User = get_user_model()
        if User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
            raise forms.ValidationError("A user with that username already exists.")
        return username

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            User = get_user_model()
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password, user=candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class InvitationForm(forms.Form):
    email = forms.EmailField(
        required=False,
        help_text="Optional: we email the link there. Anyone holding the link can join, once.",
    )

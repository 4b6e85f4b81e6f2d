"""Failures of the LLM side. Their text is safe to show and log: it never contains an API key."""

from __future__ import annotations


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class LLMError(Exception):
    """A provider call failed. `str(error)` names the provider, model and HTTP status (if any)."""

    def __init__(
        self,
        provider: str,
        model: str,
        reason: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        self.provider = provider
        self.model = model
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"LLM {self.provider}/{self.model}"
        status = f"HTTP {self.status}: " if self.status is not None else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{where}: {status}{self.reason}{tries}"

    def with_attempts(self, attempts: int) -> LLMError:
        return LLMError(
            self.provider, self.model, self.reason, status=self.status, attempts=attempts, retryable=self.retryable
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._text()!r})"


class LLMReplyInvalid(LLMError):
    """The model answered, but not with a valid action, even after one repair attempt."""

    def __init__(self, provider: str, model: str, reason: str, *, raw: str, first_reason: str) -> None:
        self.raw = raw
        self.first_reason = first_reason
        super().__init__(provider, model, reason)

    def _text(self) -> str:
        return f"LLM reply invalid after repair: {self.reason} ({self.provider}/{self.model})"

    def with_attempts(self, attempts: int) -> LLMError:
        return self


class LLMConfigError(ValueError):
    """The environment or a twin names a provider that cannot be used as configured."""

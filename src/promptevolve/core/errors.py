"""The one exception tree of promptevolve.

Every error the library raises on purpose is a ``PromptevolveError``; errors of third-party libraries
(SQLAlchemy, Jinja2, openai, llama.cpp, httpx) are translated into it at the boundary where they occur,
so callers catch one family and the CLI and API map it to exit codes and HTTP statuses in one place::

    PromptevolveError
    ├── ConfigurationError          bad settings, bad database URL
    ├── StoreError                  the store cannot be used
    │   ├── StoreUnavailableError   … cannot be reached (worth retrying)
    │   └── SchemaOutOfDateError    the database needs `promptevolve db upgrade`
    ├── NotFoundError               an unknown prompt, variant, execution, experiment, …
    ├── ConflictError               a state change that breaks an invariant
    │   ├── DuplicateVersionError   a version already registered with other content
    │   └── TrafficShareError       active shares of a prompt would exceed 100 %
    ├── ValidationError             input that is malformed
    │   ├── VersionFormatError      not a semantic version
    │   ├── UnstorableValueError    text no database can hold as sent (NUL, lone surrogates)
    │   └── TemplateError           a template that does not parse or render
    │       ├── TemplateSyntaxError
    │       ├── TemplateUnsafeError   refused at registration: can never render safely
    │       ├── TemplateLimitError    a render stopped by its step, output, depth or time limit
    │       └── MissingVariableError
    ├── ProviderError               a model call failed
    │   ├── ProviderTimeoutError
    │   └── ProviderUnavailableError
    ├── BudgetExceededError         a spend that would pass its budget
    ├── JobCancelledError           a background job stopped at a checkpoint because it was cancelled
    └── DeliveryError               a webhook receiver refused or did not answer (``retryable`` says)

Each message names the thing at fault and, where there is one, the fix.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "ConfigurationError",
    "ConflictError",
    "DeliveryError",
    "DuplicateVersionError",
    "JobCancelledError",
    "MissingVariableError",
    "NotFoundError",
    "PromptevolveError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "SchemaOutOfDateError",
    "StoreError",
    "StoreUnavailableError",
    "StoreValueError",
    "TemplateError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "TemplateUnsafeError",
    "TrafficShareError",
    "UnstorableValueError",
    "ValidationError",
    "VersionFormatError",
]


class PromptevolveError(Exception):
    """Base of every error promptevolve raises on purpose."""

    #: A short machine-readable code, used by the API's problem+json bodies.
    code: str = "error"


class ConfigurationError(PromptevolveError):
    code = "configuration"


class StoreError(PromptevolveError):
    code = "store"


class StoreUnavailableError(StoreError):
    code = "store_unavailable"


class StoreValueError(StoreError):
    """The database refused a value of the write (a number out of its column's range, …): the caller's
    fault, not the store's. Raised by the store's units of work in place of the driver's data error, so
    no caller has to look behind a ``StoreError`` (the API answers 422)."""

    code = "invalid_value"


class SchemaOutOfDateError(StoreError):
    code = "schema_out_of_date"


class NotFoundError(PromptevolveError):
    code = "not_found"


class ConflictError(PromptevolveError):
    code = "conflict"


class DuplicateVersionError(ConflictError):
    code = "duplicate_version"


class TrafficShareError(ConflictError):
    code = "traffic_share"


class ValidationError(PromptevolveError):
    code = "validation"


class UnstorableValueError(ValidationError):
    """A caller's text holds a NUL character or a lone surrogate: PostgreSQL cannot store the first,
    UTF-8 not the second. Refused on every database alike, before anything is written."""

    code = "unstorable_value"


class VersionFormatError(ValidationError):
    code = "version_format"


class TemplateError(ValidationError):
    code = "template"


class TemplateSyntaxError(TemplateError):
    code = "template_syntax"


class TemplateUnsafeError(TemplateError):
    code = "template_unsafe"


class TemplateLimitError(TemplateError):
    code = "template_limit"


class MissingVariableError(TemplateError):
    code = "missing_variable"

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class ProviderError(PromptevolveError):
    code = "provider"

    #: Whether trying the same call again may succeed (rate limits, timeouts, 5xx).
    retryable: bool = False


class ProviderTimeoutError(ProviderError):
    code = "provider_timeout"
    retryable = True


class ProviderUnavailableError(ProviderError):
    code = "provider_unavailable"
    retryable = True


class BudgetExceededError(PromptevolveError):
    code = "budget_exceeded"


class JobCancelledError(PromptevolveError):
    """Raised inside a job at a checkpoint (an evaluation call, an evolution step, between prompts of an
    autopilot pass) once someone asked to cancel it; the job ends ``cancelled``, never retried."""

    code = "job_cancelled"


class DeliveryError(PromptevolveError):
    """A webhook delivery failed; ``retryable`` when the receiver may take it later (a connection error,
    a timeout, 408, 429, 5xx), not for other 4xx answers."""

    code = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

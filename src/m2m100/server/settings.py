"""Server settings: one table (the fields of `ServerSettings`) gives every option its default, its
`M2M100_*` environment variable and its command-line flag.

The model's options are not declared here: they are the fields of `m2m100.options.TranslatorOptions`, turned into
the pydantic fields of `TranslatorSettings` (same names, defaults, help texts and checks; the server's own
defaults in SERVER_DEFAULTS), which `ServerSettings` extends with the server's options. A new loading option is
one TranslatorOptions field, and it is a server setting too.

Precedence: command-line flag > environment variable > default. The name of each derives from the field:
`max_chars` is `--max-chars` and `M2M100_MAX_CHARS`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, create_model, field_validator

from ..options import OptionSpec, TranslatorOptions

ENV_PREFIX = "M2M100_"

# Where the server's default differs from the Translator's (TranslatorOptions), and its extra bounds.
SERVER_DEFAULTS: dict[str, Any] = {"max_batch_size": 64}  # smaller batches: a request waits less behind others
SERVER_BOUNDS: dict[str, dict[str, Any]] = {"max_batch_tokens": {"ge": 16}}


def _pydantic_field(spec: OptionSpec) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one TranslatorOptions field as a setting."""
    kind: Any = Literal[spec.choices] if spec.choices else spec.kind
    if spec.check is not None:
        check = spec.check

        def run_check(value: Any) -> Any:
            problem = check(value) if value is not None else None
            if problem:
                raise ValueError(problem)
            return value

        kind = Annotated[kind, AfterValidator(run_check)]
    if spec.optional:
        kind = Optional[kind]  # noqa: UP007 - a runtime type expression
    bounds = {"ge": spec.minimum, "le": spec.maximum, **SERVER_BOUNDS.get(spec.name, {})}
    bounds = {k: v for k, v in bounds.items() if v is not None}
    default = SERVER_DEFAULTS.get(spec.name, spec.default)
    return kind, Field(default, description=spec.help, repr=not spec.secret, **bounds)


TranslatorSettings = create_model(
    "TranslatorSettings",
    __config__=ConfigDict(frozen=True, extra="forbid"),
    __doc__="The TranslatorOptions fields as settings (m2m100.options; the server's defaults in SERVER_DEFAULTS).",
    __module__=__name__,
    **{name: _pydantic_field(spec) for name, spec in TranslatorOptions.specs().items()},
)
_TEXT_OPTIONS = tuple(name for name, spec in TranslatorOptions.specs().items() if spec.kind is str)


class ServerSettings(TranslatorSettings):
    """Every option of `m2m100 serve`: the model's (inherited: the TranslatorOptions fields), then the server's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- model: the TranslatorOptions fields, inherited (they come first); then the server's own ------------
    warmup: bool = Field(True, description="translate one sentence before /health reports ready")
    # -- network -----------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(5000, ge=0, le=65535, description="port to bind")
    api_keys: Path | None = Field(None, description="file of API keys, one per line (# comments); "
                                                    "when set, translation requests need api_key")
    req_limit: int = Field(0, ge=0, description="translation requests per minute per client (API key or IP); "
                                                "0 = unlimited")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="log level")
    cors_origins: str = Field("*", description="origins allowed to call the API from a browser: * (any), or a "
                                               "comma-separated list such as https://a.example,http://localhost:8080; "
                                               "empty: none")
    forwarded_allow_ips: str = Field("", description="proxies whose X-Forwarded-For/-Proto headers are trusted "
                                                     "(comma-separated IPs or networks, * for any); empty (default): "
                                                     "none, the client is the TCP peer")
    keep_alive_timeout: float = Field(5.0, gt=0, le=3600, description="seconds an idle keep-alive connection "
                                                                      "stays open")
    header_timeout: float = Field(10.0, gt=0, le=3600, description="seconds a client has to send a request's "
                                                                   "headers (from its first byte, or from the "
                                                                   "connection's start); then it is closed")
    # -- request limits ----------------------------------------------------------------------------------
    max_chars: int = Field(5000, ge=1, description="characters per text")
    max_texts: int = Field(64, ge=1, description="texts per request")
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=64, description="request body size in bytes (413 above)")
    request_timeout: float = Field(120.0, gt=0, description="seconds a request may wait for its translation")
    max_beams: int = Field(8, ge=1, le=64, description="largest num_beams a request may ask for")
    max_new_tokens: int = Field(1024, ge=1, description="largest max_new_tokens a request may ask for")
    max_alternatives: int = Field(3, ge=0, le=16, description="largest alternatives (n-best translations) a "
                                                             "request may ask for")
    # -- batching ----------------------------------------------------------------------------------------
    batch_wait_ms: float = Field(5.0, ge=0, le=10_000, description="how long a new batch waits for more requests")
    scheduler: Literal["batch", "continuous"] = Field(
        "batch", description="batch: each model batch runs to completion before the next starts; continuous: "
                             "batches take turns per decoding step, so new requests start at the next step "
                             "(m2m100.server.scheduler)")
    max_running_batches: int = Field(4, ge=1, le=64, description="continuous scheduler: sampling batches "
                                                                 "decoding at once (each within max_batch_tokens); "
                                                                 "greedy and beam batches: 4x as many, in one merged "
                                                                 "decoder batch")
    max_queue: int = Field(256, ge=1, description="requests queued or running; more are answered 503 at once")
    # -- shutdown ----------------------------------------------------------------------------------------
    drain_timeout: float = Field(30.0, gt=0, description="seconds SIGTERM waits for in-flight requests "
                                                         "before exiting")

    @field_validator(*_TEXT_OPTIONS, mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        return ",".join(parse_origins(value))

    @field_validator("request_timeout", "drain_timeout", "batch_wait_ms", "keep_alive_timeout", "header_timeout")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def translator_options(self) -> TranslatorOptions:
        """The model's options (the TranslatorOptions fields of these settings)."""
        return TranslatorOptions(**{name: getattr(self, name) for name in TranslatorOptions.specs()})

    # -- sources -----------------------------------------------------------------------------------------
    @classmethod
    def from_sources(cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
                     **overrides: Any) -> "ServerSettings":
        """Settings from command-line values (already parsed), then M2M100_* variables, then defaults.

        Raises ValueError naming the flag and the variable of a bad value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = env_var(name)
            if env in environ and environ[env] != "":
                values[name] = _from_env(name, environ[env])
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(describe_settings_error(exc)) from None


_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?")


def parse_origins(value: str) -> list[str]:
    """["*"], [] or a list of origins (scheme://host[:port], no path); ValueError names a malformed one."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if "*" in items:
        if len(items) > 1:
            raise ValueError("* allows every origin and cannot be combined with a list of origins")
        return ["*"]
    for item in items:
        if not _ORIGIN.fullmatch(item):
            raise ValueError(f"{item!r} is not an origin: expected scheme://host[:port] such as "
                             "https://example.org or http://localhost:8080 (no path, no trailing slash)")
    return items


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _from_env(name: str, raw: str) -> Any:
    if ServerSettings.model_fields[name].annotation is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{env_var(name)}={raw!r}: expected true/false (1/0, yes/no, on/off)")
    return raw  # pydantic converts numbers from strings


def describe_settings_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{cli_flag(name)} / {env_var(name)}: {msg} (got {err.get('input')!r})")
    return "invalid server settings: " + "; ".join(lines)


def settings_table() -> list[tuple[str, str, str, str]]:
    """(flag, environment variable, default, description) for every option, in table order."""
    rows = []
    for name, field in ServerSettings.model_fields.items():
        default = field.default
        shown = "-" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        rows.append((cli_flag(name), env_var(name), shown, field.description or ""))
    return rows


def settings_markdown() -> str:
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for flag, env, default, description in settings_table():
        lines.append(f"| `{flag}` | `{env}` | {default} | {description} |")
    return "\n".join(lines)


def default_translator_factory(settings: ServerSettings) -> Any:
    """Load the Translator the settings name (the server runs it in its model worker thread): torch's threads,
    then `Translator.from_pretrained` with every TranslatorOptions field of the settings, no progress bars."""
    return settings.translator_options().load(progress=False)


def load_api_keys(path: Path) -> frozenset[str]:
    """Keys from a file: one per line, blank lines and # comments ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read API keys file {path}: {exc.strerror or exc}") from None
    keys = frozenset(
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    )
    if not keys:
        raise ValueError(f"API keys file {path} has no keys (one per line)")
    return keys

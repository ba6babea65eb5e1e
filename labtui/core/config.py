"""labtui's configuration: one typed model, loaded from YAML with errors that name file, line and key.

Each field's ``doc`` is the single source of the documentation: ``config.example.yaml`` and
``labtui init`` are rendered from it (see :func:`render_example`).

Secrets are never required inline: any string value may be ``${ENV_NAME}`` (an environment
variable) or ``${file:/path}`` (a file's content, stripped).
"""

from __future__ import annotations

import dataclasses
import os
import re
import textwrap
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labtui.core.errors import ConfigError

DEMO_LAB = Path(__file__).resolve().parent.parent / "demo"


def _doc(
    text: str,
    default: Any = dataclasses.MISSING,
    factory: Any = dataclasses.MISSING,
    *,
    between: tuple[float, float] | None = None,
) -> Any:
    """A documented field; a number's field also gives ``between=(lowest, highest)``, both
    allowed, which loading enforces; every int or float field must have one (docs/errors.md)."""
    metadata: dict[str, Any] = {"doc": text}
    if between is not None:
        metadata["between"] = between
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class LabConfig:
    """The lab repo: services, playbooks and inventory types (CloudLab's layout)."""

    repo: str = _doc(
        "Git URL or local path of the lab repo; empty means the git_url of the startup config the "
        "startup actions RETURN, else the bundled demo lab.",
        "",
    )
    branch: str = _doc("Branch to check out; empty means the repo's default.", "")
    ssh_key: str = _doc("Private key file for cloning over SSH (git's GIT_SSH_COMMAND).", "")
    checkout: str = _doc("Where the repo is cloned; empty means $LABTUI_HOME/lab.", "")
    pull: bool = _doc("Pull the repo at every start of serve or the TUI (a failed pull keeps the old checkout).", True)
    startup_actions: str = _doc(
        "CloudLab's startup_action.conf.yaml (ENV, CLONE, RUN, RETURN lines), run at every start of "
        "serve or the TUI (never for a CLI command); empty for none.",
        "",
    )
    symlinks: dict[str, str] = _doc(
        "Links to create at startup, link path -> target relative to the lab checkout "
        "(e.g. '/services': services) for labs whose scripts use CloudLab's absolute paths.",
        factory=dict,
    )


@dataclass
class DatabaseConfig:
    """Where state lives; the database is also the bus between labtui processes."""

    url: str = _doc(
        "SQLAlchemy URL; empty means sqlite:///$LABTUI_HOME/labtui.db (WAL). "
        "Use postgresql+psycopg://... when several machines share a lab.",
        "",
    )


@dataclass
class SendamaticConfig:
    """Sendamatic's HTTP send API."""

    base_url: str = _doc("API base URL (POST {base_url}/send).", "https://send.api.sendamatic.net")
    api_key: str = _doc("API key, e.g. ${SENDAMATIC_API_KEY}.", "")


@dataclass
class SmtpConfig:
    """A plain SMTP relay."""

    host: str = _doc("SMTP host.", "127.0.0.1")
    port: int = _doc("SMTP port.", 25, between=(1, 65535))
    username: str = _doc("Login name; empty for none.", "")
    password: str = _doc("Password, e.g. ${SMTP_PASSWORD}.", "")
    starttls: bool = _doc("Upgrade the connection with STARTTLS.", False)


@dataclass
class EmailConfig:
    """How invitations, password resets and health alerts are mailed."""

    provider: str = _doc("none | smtp | sendamatic. With none, tokens are shown to the admin who made them.", "none")
    from_: str = _doc("Sender, 'Name <address>'.", "labtui <labtui@localhost>")
    sendamatic: SendamaticConfig = _doc("Settings of the sendamatic provider.", factory=SendamaticConfig)
    smtp: SmtpConfig = _doc("Settings of the smtp provider.", factory=SmtpConfig)


@dataclass
class AuthConfig:
    """Logins, sessions and tokens."""

    lockout_attempts: int = _doc("Failed logins (per user and per origin) before a lockout.", 5, between=(1, 1000))
    lockout_minutes: int = _doc("How long a lockout lasts.", 5, between=(1, 10080))
    session_hours: int = _doc("How long a login session lasts.", 12, between=(1, 720))
    invite_hours: int = _doc("How long an invitation token is valid.", 72, between=(1, 720))
    reset_minutes: int = _doc("How long a password-reset token is valid.", 60, between=(1, 1440))


@dataclass
class LogConfig:
    """The log file $LABTUI_HOME/labtui.log."""

    level: str = _doc("DEBUG | INFO | WARNING | ERROR.", "INFO")


@dataclass
class SecretsConfig:
    """Secret values at rest (docs/secrets.md)."""

    key: str = _doc(
        "The key sealing secret values in the database (secret inventory fields, synced "
        "credentials, the SSH host key): base64 of 32 bytes, kept outside the data dir, e.g. "
        "${file:/etc/labtui/secret.key} (`labtui init` makes one). Empty means "
        "$LABTUI_HOME/secret.key, made on first use.",
        "",
    )


@dataclass
class JobsConfig:
    """Running services' scripts and playbooks (the job workers of every labtui process)."""

    max_parallel: int = _doc("Jobs one labtui process runs at the same time.", 4, between=(1, 256))
    lease_seconds: int = _doc(
        "Heartbeat lease of a running job: a job whose worker has not heartbeated for twice this long is marked lost.",
        15,
        between=(1, 3600),
    )
    retention_days: int = _doc(
        "Per-job data dirs ($LABTUI_HOME/jobs/ID) older than this are deleted.", 30, between=(1, 3650)
    )
    nice: int = _doc(
        "Niceness of job processes (0-19; 0: as labtui's own): a job flooding output or "
        "burning CPU then leaves the screens and log panes of everyone on the bastion quick.",
        5,
        between=(0, 19),
    )
    max_output_mb: int = _doc(
        "Output kept per job, in MB: past it the first and the last half are kept and a line "
        "says what was cut between them (a job printing without end cannot fill the disk).",
        50,
        between=(1, 100000),
    )


@dataclass
class HealthConfig:
    """The health poller (one process in the lab runs it, under a lease)."""

    tick_seconds: int = _doc("How often the poller looks for due checks.", 15, between=(1, 3600))
    max_concurrency: int = _doc("Checks run at the same time, at most.", 50, between=(1, 1000))
    retention_days: int = _doc("Check results older than this are deleted.", 7, between=(1, 3650))
    lease_seconds: int = _doc(
        "The poller's lease: another process takes polling over within this long after the polling one stops.",
        30,
        between=(1, 3600),
    )
    mail_subject_prefix: str = _doc(
        "The tag in the subject of health mails ([tag] service/check — DOWN); empty means "
        "CloudLab when cloudlab.data_dir is set (people's mail filters keep working), else labtui.",
        "",
    )


@dataclass
class VultrConfig:
    """Cloud instances from the Vultr API v2 (the `server` inventory type syncs from it)."""

    base_url: str = _doc("API base URL.", "https://api.vultr.com")
    api_key: str = _doc("API key, e.g. ${VULTR_API_KEY}; empty turns the Vultr features off.", "")
    timeout_seconds: float = _doc("Per-request timeout.", 15.0, between=(0.1, 600))


@dataclass
class CloudflareConfig:
    """DNS records of one zone through the Cloudflare API v4."""

    base_url: str = _doc("API base URL.", "https://api.cloudflare.com")
    api_token: str = _doc("API token, e.g. ${CLOUDFLARE_API_TOKEN}; empty turns DNS off.", "")
    zone_id: str = _doc("The zone's id; empty means look it up by zone_name.", "")
    zone_name: str = _doc("The zone's name (e.g. lab.example.com), used when zone_id is empty.", "")
    timeout_seconds: float = _doc("Per-request timeout.", 15.0, between=(0.1, 600))


@dataclass
class SshConfig:
    """`labtui serve --ssh`: labtui served to many people over SSH."""

    idle_timeout: int = _doc(
        "Minutes without a keystroke after which a session is closed (0: never).", 30, between=(0, 10080)
    )
    max_sessions: int = _doc("Sessions open at the same time, at most (0: no limit).", 100, between=(0, 10000))
    max_sessions_per_user: int = _doc(
        "Sessions one account may have open at once (0: no limit).", 10, between=(0, 1000)
    )
    max_startups: int = _doc(
        "Connections that have not logged in yet, at most (OpenSSH's MaxStartups); more are dropped at once.",
        30,
        between=(1, 100000),
    )
    max_startups_per_source: int = _doc("Of those, at most this many from one address.", 10, between=(1, 100000))
    login_grace_seconds: int = _doc(
        "Seconds a connection has to log in before it is closed (OpenSSH's LoginGraceTime).", 30, between=(1, 3600)
    )
    max_join_sessions: int = _doc(
        "Password-less `join` sessions open at once, at most; they never take a signed-in user's place.",
        5,
        between=(1, 1000),
    )
    join_timeout_seconds: int = _doc("Seconds a `join` connection may stay, typing or not.", 300, between=(1, 86400))


@dataclass
class TuiConfig:
    """The terminal interface."""

    keymap: dict[str, str] = _doc(
        "Keys rebound: a screen action's id (<screen>.<action>, e.g. jobs.cancel_job; ? help "
        "lists a screen's keys) -> the key or keys (comma-separated) it is on instead.",
        factory=dict,
    )


@dataclass
class CloudlabConfig:
    """Importing a CloudLab installation."""

    data_dir: str = _doc(
        "CloudLab's data dir (with database.json and/or cloudlab.db); when set and labtui's "
        "database is empty, startup imports it once.",
        "",
    )


@dataclass
class Config:
    """The whole configuration."""

    lab: LabConfig = _doc("The lab repo.", factory=LabConfig)
    database: DatabaseConfig = _doc("The database.", factory=DatabaseConfig)
    email: EmailConfig = _doc("Outgoing email.", factory=EmailConfig)
    auth: AuthConfig = _doc("Accounts and logins.", factory=AuthConfig)
    log: LogConfig = _doc("Logging.", factory=LogConfig)
    secrets: SecretsConfig = _doc("Secrets at rest.", factory=SecretsConfig)
    jobs: JobsConfig = _doc("Jobs.", factory=JobsConfig)
    health: HealthConfig = _doc("Health checks.", factory=HealthConfig)
    vultr: VultrConfig = _doc("Vultr cloud instances.", factory=VultrConfig)
    cloudflare: CloudflareConfig = _doc("Cloudflare DNS.", factory=CloudflareConfig)
    ssh: SshConfig = _doc("Serving labtui over SSH.", factory=SshConfig)
    cloudlab: CloudlabConfig = _doc("Import from CloudLab.", factory=CloudlabConfig)
    tui: TuiConfig = _doc("The terminal interface.", factory=TuiConfig)

    #: The file this config came from (None for built-in defaults); not a config key.
    source: Path | None = field(default=None, repr=False, compare=False, metadata={"internal": True})


def mail_subject_prefix(config: Config) -> str:
    """``health.mail_subject_prefix``, or its default for this lab."""
    return config.health.mail_subject_prefix or ("CloudLab" if config.cloudlab.data_dir else "labtui")


_CHOICES = {
    ("email", "provider"): ("none", "smtp", "sendamatic"),
    ("log", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def yaml_key(name: str) -> str:
    """The YAML spelling of a dataclass field (``from_`` is ``from``)."""
    return name.rstrip("_")


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {yaml_key(f.name): f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


_REF = re.compile(r"\$\{([^}]+)\}")


def _expand(value: str, where: str) -> str:
    """Replace ``${ENV}`` and ``${file:/path}`` references."""

    def one(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("file:"):
            path = Path(ref[5:]).expanduser()
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
        if ref not in os.environ:
            raise ConfigError(f"{where}: environment variable {ref} is not set")
        return os.environ[ref]

    return _REF.sub(one, value)


def _where(file: str, node: yaml.Node, key: str) -> str:
    return f"{file}:{node.start_mark.line + 1}: {key}"


def _convert(node: yaml.Node, hint: Any, file: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    where = _where(file, node, key)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(node, hint, file, key)
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(f"{where}: expected a mapping")
        _, value_type = typing.get_args(hint)
        return {str(k.value): _convert(v, value_type, file, f"{key}.{k.value}") for k, v in node.value}
    if origin is list:
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError(f"{where}: expected a list")
        (item_type,) = typing.get_args(hint)
        return [_convert(v, item_type, file, f"{key}[{i}]") for i, v in enumerate(node.value)]
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{where}: expected a single value, not a {type(node).__name__.removesuffix('Node').lower()}")
    if hint is str:
        if node.tag == "tag:yaml.org,2002:null":
            return ""
        return _expand(str(node.value), where)
    value = yaml.safe_load(yaml.serialize(node))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {node.value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {node.value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {node.value!r}")
        return float(value)
    raise ConfigError(f"{where}: unsupported type")  # pragma: no cover - schema bug


def _check_between(f: dataclasses.Field[Any], value: Any, where: str) -> None:
    """A number outside its field's ``between`` range (NaN never is inside one)."""
    bounds = f.metadata.get("between")
    if bounds is None:
        return
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be between {low:g} and {high:g}, got {value:g}")


def _build(node: yaml.Node, cls: type, file: str, key: str) -> Any:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return cls()
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_where(file, node, key)}: expected a mapping of keys")
    known = _fields(cls)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        name = str(key_node.value)
        path = f"{key}.{name}" if key else name
        if name not in known:
            raise ConfigError(f"{_where(file, key_node, path)}: unknown key (known here: {', '.join(sorted(known))})")
        f = known[name]
        value = _convert(value_node, hints[f.name], file, path)
        choices = _CHOICES.get((key, name))
        if choices and value not in choices:
            raise ConfigError(f"{_where(file, value_node, path)}: must be one of {', '.join(choices)}, got {value!r}")
        _check_between(f, value, _where(file, value_node, path))
        values[f.name] = value
    return cls(**values)


def load_config(path: Path | None) -> Config:
    """Load and validate a config file; ``None`` gives the defaults (the bundled demo lab)."""
    if path is None:
        return Config()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    if node is None:
        config = Config()
    else:
        config = _build(node, Config, str(path), "")
    config.source = path
    return config


def render_example(values: Mapping[str, Any] | None = None) -> str:
    """The commented config file: every key with its doc and default, or its value in
    ``values`` (by dotted key, e.g. ``secrets.key``: what ``labtui init`` fills in)."""
    values = values or {}
    lines = [
        "# labtui configuration. Every key is optional; shown here with its default.",
        "# Strings may be ${ENV_NAME} or ${file:/path/to/secret} so secrets stay out of this file.",
        "",
    ]

    def walk(cls: type, indent: int, prefix: str) -> None:
        pad = "  " * indent
        for key, f in _fields(cls).items():
            hint = typing.get_type_hints(cls)[f.name]
            lines.extend(textwrap.wrap(f.metadata["doc"], 90, initial_indent=f"{pad}# ", subsequent_indent=f"{pad}# "))
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                lines.append(f"{pad}{key}:")
                walk(hint, indent + 1, f"{prefix}{key}.")
                continue
            if f"{prefix}{key}" in values:
                default = values[f"{prefix}{key}"]
            else:
                default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            rendered = yaml.safe_dump(default, default_flow_style=True).strip()
            rendered = rendered.removesuffix("\n...").removesuffix("...").strip()
            lines.append(f"{pad}{key}: {rendered if rendered != '' else chr(39) * 2}")

    walk(Config, 0, "")
    return "\n".join(lines) + "\n"

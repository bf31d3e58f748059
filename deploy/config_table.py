"""The README's configuration table, generated from the settings classes (a test keeps it in sync).

python -m deploy.config_table           # print the markdown table
python -m deploy.config_table --write   # refresh it in README.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from deploy.local.components import LocalStackSettings
from services.common.settings import ChannelSettings, KafkaSettings, MongoSettings
from services.connectors.settings import ConnectorSettings
from services.notifier.settings import NotifierSettings
from services.preference.settings import PreferenceSettings
from services.router.settings import RouterSettings

CLASSES: tuple[tuple[type[BaseSettings], str], ...] = (
    (KafkaSettings, "all services"),
    (MongoSettings, "all services"),
    (ChannelSettings, "all services"),
    (PreferenceSettings, "preference"),
    (RouterSettings, "router"),
    (NotifierSettings, "notifier"),
    (ConnectorSettings, "connectors"),
    (LocalStackSettings, "local stack (make run / tests)"),
)


_REPO = Path(__file__).resolve().parents[1]


def _default(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret; dev default)"
    if value is None:
        return ""
    if isinstance(value, dict | tuple | list) and len(str(value)) > 40:
        return "(see settings.py)"
    text = str(value.value if hasattr(value, "value") else value)
    # Defaults derived from where the checkout lives must not leak a machine path.
    text = text.replace(str(_REPO), "<repo>")
    return text.replace("|", "\\|")


def rows() -> list[str]:
    """One markdown row per environment variable."""
    out = []
    for cls, who in CLASSES:
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
                continue  # nested Kafka/MongoDB settings are listed under their own prefix
            default = field.get_default(call_default_factory=True)
            desc = (field.description or "").replace("|", "\\|")
            out.append(f"| `{prefix}{name.upper()}` | {who} | `{_default(default)}` | {desc} |")
    return out


def table() -> str:
    """The whole table with its header."""
    return "\n".join(["| variable | used by | default | meaning |", "| --- | --- | --- | --- |", *rows()])


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def render_readme(text: str) -> str:
    """The README with its table section regenerated."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if "--write" in sys.argv:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        readme.write_text(render_readme(readme.read_text()))
    else:
        print(table())

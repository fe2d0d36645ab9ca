"""The UI language: Flask-Babel with Chinese (zh_CN, the default) and English, and user-authored labels.

The language comes from the `ff_lang` cookie (set by the language switch), else
the browser's Accept-Language, else Chinese. A user-authored label is a dict like
{"zh-CN": "标题", "en": "Title"}: it is shown in the UI language, falling back to
the other language and then to the key.
"""
from __future__ import annotations

from pathlib import Path

from flask import request
from flask_babel import Babel, get_locale

LANGS = {"zh_CN": "中文", "en": "English"}
DEFAULT = "zh_CN"
COOKIE = "ff_lang"
TRANSLATIONS = Path(__file__).parent / "translations"  # zh_CN is stored as zh_Hans_CN, the name Babel resolves it to


def select_locale() -> str:
    """The UI language of this request (a key of LANGS)."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGS:
        return chosen
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request.accept_languages else None
    if best and best.startswith("en"):
        return "en"
    return DEFAULT


def ui_lang() -> str:
    """The language tag of user-authored labels for this request ("zh-CN" or "en")."""
    return "en" if str(get_locale() or DEFAULT).startswith("en") else "zh-CN"


def text_of(label, fallback: str = "") -> str:
    """A user-authored label in the UI language (then the other language, then `fallback`)."""
    if isinstance(label, str):
        return label or fallback
    if not isinstance(label, dict):
        return fallback
    lang = ui_lang()
    order = [lang, lang.split("-")[0], "zh-CN", "zh", "en", *label.keys()]
    for tag in order:
        value = label.get(tag)
        if isinstance(value, str) and value:
            return value
    return fallback


def label_of(thing) -> str:
    """The label of an app, form or field (model object or definition dict) in the UI language."""
    definition = thing if isinstance(thing, dict) else getattr(thing, "definition", {})
    return text_of(definition.get("label"), str(definition.get("key", "")))


def init_app(app) -> None:
    """Attach Flask-Babel and the label filters to the Flask app."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["label"] = label_of
    app.jinja_env.filters["text"] = text_of
    app.jinja_env.globals["ui_lang"] = ui_lang
    app.jinja_env.globals["ui_langs"] = LANGS

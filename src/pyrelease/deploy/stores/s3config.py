"""Where an ``s3://`` store lives and who we are there, resolved the AWS CLI's way.

Everything comes from the ``environ`` mapping the store is given (never from
``os.environ`` directly), so a test or a caller decides what is seen.

Endpoint, first found wins:
    ``?endpoint=URL`` on the store URL, ``AWS_ENDPOINT_URL_S3``,
    ``AWS_ENDPOINT_URL``, ``endpoint_url`` of the profile in the config file,
    else AWS itself (``https://s3.REGION.amazonaws.com``).
Region: ``?region=``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``region`` of the
    profile in the config file, else ``us-east-1``.
Credentials: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+
    ``AWS_SESSION_TOKEN``); else the profile (``AWS_PROFILE``, default
    ``default``) in the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``,
    default ``~/.aws/credentials``), then in the config file (``AWS_CONFIG_FILE``,
    default ``~/.aws/config``); else none: requests go unsigned, which a public
    bucket allows for reading.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pyrelease.deploy.store import StoreError

DEFAULT_REGION = "us-east-1"
AWS_DEFAULT = "AWS_REGION (no endpoint is set, so AWS's for that region is used)"


@dataclass(frozen=True)
class Credentials:
    """A key pair and where it came from, so errors can name the right setting."""

    access_key: str
    secret_key: str
    token: str | None
    access_key_source: str
    """What to fix for a wrong key id, e.g. ``AWS_ACCESS_KEY_ID``."""
    secret_key_source: str
    """What to fix for a wrong secret, e.g. ``AWS_SECRET_ACCESS_KEY``."""
    token_source: str


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://bucket/prefix`` store URL with its resolved settings."""

    bucket: str
    prefix: str
    """Key prefix for every object ("" or ending in "/")."""
    endpoint: str
    """Scheme and host (and port) of the service, no trailing slash."""
    endpoint_source: str
    """The setting the endpoint came from, named in 'cannot reach' errors
    (for AWS's own endpoint: the region variable it was made from)."""
    path_style: bool
    """Address as ENDPOINT/BUCKET/KEY (custom endpoints) or BUCKET.ENDPOINT/KEY."""
    region: str
    credentials: Credentials | None


def parse_location(url: str, environ: Mapping[str, str]) -> S3Location:
    """Resolve ``url`` (``s3://bucket[/prefix][?endpoint=URL&region=R]``) against ``environ``.

    Raises :class:`StoreError` for a malformed URL or an unreadable profile.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StoreError(f"{url} is not an S3 store URL: write it as s3://BUCKET/PREFIX")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise StoreError(
            f"{url} has an unknown option {unknown[0]!r}: "
            "only ?endpoint=URL and ?region=NAME are understood"
        )
    prefix = parts.path.strip("/")
    try:
        config = _profile_section(environ, config_file=True)
        credentials = find_credentials(environ)
    except StoreError as exc:
        raise StoreError(f"{url}: {exc}") from None
    region = (
        query.get("region")
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or config.get("region")
        or DEFAULT_REGION
    )
    endpoint, source = _endpoint(query, environ, config, region)
    if not endpoint.startswith(("http://", "https://")):
        raise StoreError(
            f"the S3 endpoint {endpoint!r} from {source} for {url} is not a URL: "
            "write it as http(s)://HOST[:PORT]"
        )
    custom = source != AWS_DEFAULT
    return S3Location(
        bucket=parts.netloc,
        prefix=prefix + "/" if prefix else "",
        endpoint=endpoint.rstrip("/"),
        endpoint_source=source,
        # AWS serves every bucket virtual-hosted; a dotted name breaks its TLS
        # wildcard, and MinIO/Ceph/moto expect path-style by default.
        path_style=custom or "." in parts.netloc,
        region=region,
        credentials=credentials,
    )


def _endpoint(
    query: Mapping[str, str],
    environ: Mapping[str, str],
    config: Mapping[str, str],
    region: str,
) -> tuple[str, str]:
    if query.get("endpoint"):
        return query["endpoint"], "the store URL's ?endpoint="
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if environ.get(name):
            return environ[name], name
    if config.get("endpoint_url"):
        return config["endpoint_url"], f"endpoint_url in {_config_path(environ)}"
    return f"https://s3.{region}.amazonaws.com", AWS_DEFAULT


def find_credentials(environ: Mapping[str, str]) -> Credentials | None:
    """The credentials to sign with, or None to send unsigned requests."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(
            key,
            secret,
            environ.get("AWS_SESSION_TOKEN") or None,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        )
    if key or secret:
        missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
        raise StoreError(
            f"{missing} is not set but its partner is, so there is no key to sign with; "
            "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither to use a profile"
        )
    for config_file in (False, True):
        section = _profile_section(environ, config_file=config_file)
        if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
            where = (
                f"profile {_profile(environ)!r} in "
                f"{_config_path(environ) if config_file else _credentials_path(environ)}"
            )
            return Credentials(
                section["aws_access_key_id"],
                section["aws_secret_access_key"],
                section.get("aws_session_token") or None,
                f"aws_access_key_id of {where}",
                f"aws_secret_access_key of {where}",
                f"aws_session_token of {where}",
            )
    profile = environ.get("AWS_PROFILE")
    if profile and not any(_profile_section(environ, config_file=c) for c in (False, True)):
        raise StoreError(
            f"AWS_PROFILE names the profile {profile!r}, which is in neither "
            f"{_credentials_path(environ)} nor {_config_path(environ)}; "
            "add it there or unset AWS_PROFILE"
        )
    return None


def _profile(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _credentials_path(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(
        _home(environ), ".aws", "credentials"
    )


def _config_path(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_CONFIG_FILE") or os.path.join(_home(environ), ".aws", "config")


def _profile_section(environ: Mapping[str, str], *, config_file: bool) -> dict[str, str]:
    """The profile's keys from the config file or the credentials file ({} if absent).

    The config file names sections ``[profile NAME]`` except ``[default]``; the
    credentials file names them ``[NAME]``, as the AWS CLI does.
    """
    path = _config_path(environ) if config_file else _credentials_path(environ)
    profile = _profile(environ)
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        # configparser's messages run over several lines; keep the first, with the line.
        reason = str(exc).splitlines()[0].rstrip(".")
        lineno = getattr(exc, "lineno", None) or next(iter(getattr(exc, "errors", [])), [None])[0]
        if lineno:
            reason = f"line {lineno}: {reason}"
        raise StoreError(f"cannot read the AWS file {path} ({reason}); fix or remove it") from None
    names = [profile] if not config_file or profile == "default" else []
    if config_file:
        names.append(f"profile {profile}")
    for name in names:
        if parser.has_section(name):
            return {k: v.strip() for k, v in parser.items(name)}
    return {}

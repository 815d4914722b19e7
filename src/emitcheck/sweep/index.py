"""The releases of a package on the package index, for ``emitcheck sweep``.

The index is the one the installs of a sweep use: ``UV_DEFAULT_INDEX`` or
``UV_INDEX_URL`` (uv reads them itself), else pip's ``PIP_INDEX_URL`` or the
``index-url`` of a pip configuration file (then handed to uv too), else PyPI.
It is asked through the simple API, JSON (PEP 691) where it speaks it, HTML
(PEP 503) where not, so a devpi or Artifactory mirror works as PyPI does.
A release is a version with at least one file that is not yanked (PEP 592);
pre-releases and development releases are left out.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

PYPI = "https://pypi.org/simple"
#: Seconds the index may take to list a package's files.
LIST_TIMEOUT = 30.0
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class PackageIndexError(Exception):
    """The index cannot be reached, or does not have the package; says which."""


@dataclass(frozen=True)
class Index:
    url: str
    #: Where the URL came from; uv must be told only when it was not its own setting.
    source: str

    def uv_args(self) -> list[str]:
        """What uv needs to install from this index (nothing when uv reads it itself)."""
        return [] if self.source.startswith("UV_") else ["--index-url", self.url]


def _pip_config_files() -> list[Path]:
    """pip's configuration files, lowest priority first (pip's own order)."""
    home = Path.home()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    files = [Path("/etc/pip.conf"),
             *(Path(d) / "pip" / "pip.conf"
               for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")),
             home / ".pip" / "pip.conf", Path(xdg) / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return files


def _pip_config_index() -> tuple[str, str] | None:
    found = None
    for path in _pip_config_files():
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if parser.has_option(section, "index-url"):
                found = (parser.get(section, "index-url").strip(), str(path))
    return found


def index() -> Index:
    """The index a sweep lists and installs from (see the module's docstring)."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(name):
            return Index(os.environ[name].rstrip("/"), name)
    configured = _pip_config_index()
    if configured:
        return Index(configured[0].rstrip("/"), configured[1])
    return Index(PYPI, "default")


def specifier(text: str) -> SpecifierSet:
    """A PEP 440 specifier (``>=24,<25``); a ValueError in one line when it is not one."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"--versions {text!r} is not a version specifier; write it as pip "
                         "does, e.g. '>=24.1,<25' or '==1.0.*'") from None


class _Anchors(HTMLParser):
    """Each file link of a PEP 503 page: (file name, yanked)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, bool]] = []
        self._yanked: bool | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._yanked = any(name == "data-yanked" for name, _ in attrs)

    def handle_data(self, data):
        if self._yanked is not None and data.strip():
            self.files.append((data.strip(), self._yanked))

    def handle_endtag(self, tag):
        if tag == "a":
            self._yanked = None


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None  # an .exe, .egg or an old name that does not parse


def releases_in(files: list[tuple[str, bool]]) -> list[Version]:
    """The final releases among ``files`` ((name, yanked) pairs), oldest first: the
    versions with one file that is not yanked, without pre- or dev releases."""
    kept = {version for name, yanked in files if not yanked
            for version in [_version_of(name)]
            if version is not None and not version.is_prerelease}
    return sorted(kept)


def files_of(package: str, where: Index, timeout: float = LIST_TIMEOUT) -> list[tuple[str, bool]]:
    """(file name, yanked) of every file of ``package`` on the index."""
    import requests  # python-socketio[client] brings it; not needed elsewhere here

    url = f"{where.url}/{canonicalize_name(package)}/"
    try:
        response = requests.get(url, headers={"Accept": _ACCEPT}, timeout=timeout)
    except requests.RequestException as exc:
        raise PackageIndexError(f"cannot reach the package index {where.url} (from "
                                f"{where.source}): {type(exc).__name__}: {exc}") from None
    if response.status_code == 404:
        raise PackageIndexError(f"no package {package!r} on the package index {where.url}")
    if response.status_code != 200:
        raise PackageIndexError(f"the package index {where.url} answered {response.status_code} "
                          f"for {url}")
    if response.headers.get("content-type", "").startswith("application/vnd.pypi.simple.v1"):
        return [(f["filename"], bool(f.get("yanked"))) for f in response.json()["files"]]
    page = _Anchors()
    page.feed(response.text)
    return page.files


def releases(package: str, wanted: SpecifierSet | None = None,
             where: Index | None = None) -> list[Version]:
    """The final releases of ``package`` that ``wanted`` allows, oldest first."""
    found = releases_in(files_of(package, where or index()))
    if wanted is not None:
        found = [v for v in found if wanted.contains(v, prereleases=True)]
    return found

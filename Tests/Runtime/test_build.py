"""How the libraries are built: the hosted copy of the engine that the unit
tests compile is the engine itself."""

from pathlib import Path

from conftest import REPO


def test_hosted_engine_links_every_engine_source():
    engine = {p.name for p in (REPO / "Sources" / "WrapCore").glob("*.swift")}
    hosted = REPO / "Tests" / "WrapCoreHosted"
    links = {p.name: p for p in hosted.glob("*.swift")}
    assert engine and set(links) == engine, \
        f"Tests/WrapCoreHosted must link every Sources/WrapCore file: missing {engine - set(links)}, extra {set(links) - engine}"
    for name, p in links.items():
        assert p.is_symlink() and p.resolve() == (REPO / "Sources" / "WrapCore" / name).resolve(), name

"""finops.toml: every section is parsed by the one strict parser into typed settings."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal

import pytest

from models.errors import ConfigError
from models.settings import SECTIONS, Settings, parse_settings

ORIGIN = "conf/finops.toml"
SHARED = '[[allocation.shared]]\nid = "s"\nmatch = { x_Team = "platform" }\n'
INVOICE = '[[report.invoices]]\nsource = "aws-cur2"\nmonth = "2026-09"\n'

# section -> (an unknown key and what it says, a wrong type and what it says)
CASES = {
    "warehouse": (
        ('[warehouse]\npaht = "w"', "unknown key 'paht' in [warehouse] (did you mean \"path\"?)"),
        ("[warehouse]\nmemory_limit = 2",
         "[warehouse] memory_limit has the wrong type — expected a string, found 2"),
    ),
    "engine": (
        ('[engine]\nspark_mastr = "yarn"',
         "unknown key 'spark_mastr' in [engine] (did you mean \"spark_master\"?)"),
        ("[engine]\nname = 1", "[engine] name has the wrong type — expected a string, found 1"),
    ),
    "sources": (
        ('[sources.azur]\nscope = "x"',
         "unknown key 'azur' in [sources] (did you mean \"azure\"?)"),
        ('[sources]\naws = "default"',
         "[sources.aws] must be a table — expected a table, found 'default'"),
    ),
    "sources.aws": (
        ('[sources.aws]\nprofil = "p"',
         "unknown key 'profil' in [sources.aws] (did you mean \"profile\"?)"),
        ("[sources.aws]\nregion = 1",
         "[sources.aws] region has the wrong type — expected a string, found 1"),
    ),
    "sources.azure": (
        ('[sources.azure]\nscop = "s"',
         "unknown key 'scop' in [sources.azure] (did you mean \"scope\"?)"),
        ("[sources.azure]\nblob_endpoint = true",
         "[sources.azure] blob_endpoint has the wrong type — expected a string, found True"),
    ),
    "sources.gcp": (
        ('[sources.gcp]\nprojct = "p"',
         "unknown key 'projct' in [sources.gcp] (did you mean \"project\"?)"),
        ("[sources.gcp]\nlocation = 5",
         "[sources.gcp] location has the wrong type — expected a string, found 5"),
    ),
    "sources.prometheus": (
        ('[sources.prometheus]\ntoken_fil = "t"',
         "unknown key 'token_fil' in [sources.prometheus] (did you mean \"token_file\"?)"),
        ("[sources.prometheus]\norg_id = 7",
         "[sources.prometheus] org_id has the wrong type — expected a string, found 7"),
    ),
    "classify": (
        ('[classify]\nteam_tag = ["team"]',
         "unknown key 'team_tag' in [classify] (did you mean \"team_tags\"?)"),
        ('[classify]\nteam_tags = "team"',
         "[classify] team_tags has the wrong type — expected a list, found 'team'"),
    ),
    "classify.team_aliases": (
        ('[classify]\nteam_alias = { ml = "ml-research" }',
         "unknown key 'team_alias' in [classify] (did you mean \"team_aliases\"?)"),
        ("[classify.team_aliases]\nml = 1",
         "[classify.team_aliases] ml has the wrong type — expected a string, found 1"),
    ),
    "allocation": (
        ('[allocation]\nunalocated = "none"',
         "unknown key 'unalocated' in [allocation] (did you mean \"unallocated\"?)"),
        ("[allocation]\nunallocated = 1",
         "[allocation] unallocated has the wrong type — expected a string, found 1"),
    ),
    "allocation.shared": (
        (SHARED + 'metod = "even"',
         "unknown key 'metod' in [[allocation.shared]] #1 (did you mean \"method\"?)"),
        (SHARED + "description = 1",
         "[[allocation.shared]] #1 description has the wrong type — expected a string, found 1"),
    ),
    "idle": (
        ("[idle]\nidle_bellow = 0.1",
         "unknown key 'idle_bellow' in [idle] (did you mean \"idle_below\"?)"),
        ("[idle]\nmin_samples = 1.5",
         "[idle] min_samples has the wrong type — expected an integer, found 1.5"),
    ),
    "flows": (
        ('[flows]\naddress = {}',
         "unknown key 'address' in [flows] (did you mean \"addresses\"?)"),
        ('[flows]\nlink_gbps = "10"',
         "[flows] link_gbps has the wrong type — expected an integer, found '10'"),
    ),
    "own_vs_rent": (
        ('[own_vs_rent]\ngpus = "H100"',
         "unknown key 'gpus' in [own_vs_rent] (did you mean \"gpu\"?)"),
        ('[own_vs_rent]\nmonths = "6"',
         "[own_vs_rent] months has the wrong type — expected an integer, found '6'"),
    ),
    "anomaly": (
        ("[anomaly]\nz_treshold = 3",
         "unknown key 'z_treshold' in [anomaly] (did you mean \"z_threshold\"?)"),
        ('[anomaly]\nwindow_days = "28"',
         "[anomaly] window_days has the wrong type — expected an integer, found '28'"),
    ),
    "alerts": (
        ('[alerts]\ndashboard = "https://finops.example.com"',
         "unknown key 'dashboard' in [alerts] (did you mean \"dashboard_url\"?)"),
        ('[alerts]\nrule = "budget_breached"',
         "[alerts] rule has the wrong type — expected an array of tables ([[alerts.rule]] "
         "entries), found 'budget_breached'"),
    ),
    "budgets": (
        ('[budgets]\nteams = { a = "1" }',
         "unknown key 'teams' in [budgets] (did you mean \"team\"?)"),
        ('[budgets]\nteam = "1000"',
         "[budgets] team has the wrong type — expected a table, found '1000'"),
    ),
    "auth": (
        ('[auth]\nclient_idd = "x"',
         "unknown key 'client_idd' in [auth] (did you mean \"client_id\"?)"),
        ("[auth]\nclient_id = 7",
         "[auth] client_id has the wrong type — expected a string, found 7"),
    ),
    "report": (
        ('[report]\ncurency = "EUR"',
         "unknown key 'curency' in [report] (did you mean \"currency\"?)"),
        ('[report]\nlate_after_days = "5"',
         "[report] late_after_days has the wrong type — expected an integer, found '5'"),
    ),
    "report.invoices": (
        (INVOICE + 'account = "1"\ntotl = "1"',
         "unknown key 'totl' in [[report.invoices]] #1 (did you mean \"total\"?)"),
        (INVOICE + "total = 1\naccount = 1.5",
         "[[report.invoices]] #1 account has the wrong type — expected a string or an "
         "integer, found 1.5"),
    ),
}  # fmt: skip


def _parse(text: str) -> Settings:
    return parse_settings(tomllib.loads(text), origin=ORIGIN)


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        _parse(text)
    return err.value.render()


def test_every_section_has_cases() -> None:
    assert set(SECTIONS) <= {name.split(".")[0] for name in CASES}


@pytest.mark.parametrize("section", sorted(CASES))
def test_unknown_key_says_did_you_mean_naming_the_section(section: str) -> None:
    text, says = CASES[section][0]
    assert _error(text).startswith(f"{ORIGIN}: {says}")


@pytest.mark.parametrize("section", sorted(CASES))
def test_wrong_type_names_key_expected_and_found(section: str) -> None:
    text, says = CASES[section][1]
    assert _error(text) == f"{ORIGIN}: {says}"


def test_unknown_section_says_did_you_mean() -> None:
    assert _error('[warehous]\npath = "w"').startswith(
        f'{ORIGIN}: unknown section [warehous] (did you mean "warehouse"?)'
    )


def test_missing_required_key_names_the_entry_and_the_keys() -> None:
    assert _error(INVOICE + 'account = "1"') == (
        f"{ORIGIN}: [[report.invoices]] #1 has no total — expected keys ['source', 'account', "
        "'month', 'total'], found account, month, source"
    )


def test_a_check_of_meaning_names_the_file_and_the_entry() -> None:
    assert _error(SHARED + 'method = "evenly"') == (
        f"{ORIGIN}, [[allocation.shared]] #1: method 'evenly' is not known (did you mean "
        "\"even\"?) — expected one of ['even', 'proportional'], found 'evenly'"
    )
    assert _error("[idle]\nidle_below = 2").startswith(f"{ORIGIN}: [idle] idle_below is out")


def test_every_section_is_typed_whether_or_not_the_file_has_it() -> None:
    for settings in (Settings(), parse_settings({})):
        for f in dataclasses.fields(settings):
            assert dataclasses.is_dataclass(getattr(settings, f.name)), f.name


def test_a_full_file_reads_into_typed_values() -> None:
    s = _parse(
        '[warehouse]\npath = "w"\nmemory_limit = "1GB"\n'
        '[sources.aws]\nprofile = "billing"\n'
        '[classify.team_aliases]\nml = "ml-research"\n'
        + SHARED
        + '[idle]\nidle_below = 0.1\nmin_samples = 2\n'
        '[own_vs_rent]\ngpu = "A100"\nmonths = 6\n'
        '[anomaly]\ndimensions = ["team"]\nz_threshold = 3\n'
        '[budgets]\ntotal = "50000.10"\nteam = { platform = 8000 }\n'
        '[auth]\nclient_id = "finops"\n'
        '[report]\ncurrency = "EUR"\n' + INVOICE + 'total = "12345.67"\naccount = 111122223333\n'
    )  # fmt: skip
    assert (s.warehouse.path, s.warehouse.memory_limit, s.aws.profile) == ("w", "1GB", "billing")
    assert s.classify.team_aliases == {"ml": "ml-research"}
    assert [(r.id, [c.field for c in r.conditions]) for r in s.allocation.shared] == [
        ("s", ["x_Team"])
    ]
    assert (s.idle.idle_below, s.idle.min_samples) == (0.1, 2)
    assert (s.own_vs_rent.gpu, s.own_vs_rent.months) == ("A100", 6)
    assert (s.anomaly.dimensions, s.anomaly.z_threshold) == (("team",), 3.0)
    assert s.budgets.entries() == [
        ("total", "total", Decimal("50000.10")),
        ("team", "platform", Decimal("8000")),
    ]
    assert s.auth.configured and s.auth.client_id == "finops"
    (invoice,) = s.report.invoices
    assert (s.report.currency, invoice.total, invoice.account) == (
        "EUR",
        Decimal("12345.67"),
        111122223333,
    )

from __future__ import annotations

from pathlib import Path

import pytest

from config import Config, ConfigError, Problem, Role, load_config

CONFIG_DIR = Path(__file__).parents[2] / "config"

# A small valid network; the comments are line numbers. Tests change a line in place with
# str.replace, or add lines with _insert, so the numbers a test asserts can be read off here.
BASE = """\
homeserver: https://matrix.example.org  #  1
bot:                                    #  2
  user_id: "@natverk:example.org"       #  3
  language: sv                          #  4
  timezone: Europe/Stockholm            #  5
admins:                                 #  6
  - "@admin:example.org"                #  7
advisers:                               #  8
  room: "#radgivning:example.org"       #  9
  reminder_after: 24h                   # 10
  members:                              # 11
    - "@radgivare:example.org"          # 12
cohorts:                                # 13
  - id: npf-ht26                        # 14
    name: Studiepaket NPF, HT26         # 15
    room: "#npf-ht26:example.org"       # 16
    facilitators:                       # 17
      - "@anna:example.org"             # 18
    participants:                       # 19
      - "@bertil:example.org"           # 20
      - "@cecilia:example.org"          # 21
"""

SECOND_COHORT = """\
  - id: lasforstaelse-vt27              # 22
    name: Läsförståelse VT27            # 23
    room: "#lasforstaelse-vt27:example.org"  # 24
    language: en                        # 25
    facilitators: ["@david:example.org"]  # 26
    participants: ["@erik:example.org"]   # 27
"""

# Inserted after the adviser room (line 9); BASE's lines 10-21 become 18-29.
CATEGORIES = """\
  categories:                           # 10
    - id: pedagogik                     # 11
      name: Pedagogisk fråga            # 12
      default: true                     # 13
    - id: teknik                        # 14
      name: Teknisk fråga               # 15
      room: "#teknik:example.org"       # 16
      members: ["@tekniker:example.org"]  # 17
"""


def _insert(text: str, after: int, *lines: str) -> str:
    """``text`` with ``lines`` inserted after line number ``after``."""
    old = text.splitlines(keepends=True)
    return "".join([*old[:after], *(line + "\n" for line in lines), *old[after:]])


def _with_categories(categories: str = CATEGORIES) -> str:
    return _insert(BASE, 9, categories.removesuffix("\n"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "natverk.yaml"
    path.write_text(text, "utf-8")
    return path


def _load(tmp_path: Path, text: str) -> Config:
    return load_config(_write(tmp_path, text))


def _problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    """(line, key path, message) of every problem found in ``text``."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def test_example_config_is_valid() -> None:
    config = load_config(CONFIG_DIR / "example.yaml")

    assert config.homeserver == "http://127.0.0.1:8008"
    assert config.bot.user_id == "@natverk:example.org"
    assert config.bot.database == CONFIG_DIR / "natverk.db"
    assert [c.id for c in config.cohorts] == ["npf-ht26", "reading-vt27"]
    npf = config.cohorts[0]
    assert npf.name == "Studiepaket NPF, HT26"
    assert npf.facilitators == ["@anna:example.org"]
    assert npf.participants == ["@bertil:example.org", "@cecilia:example.org"]
    assert config.cohort_language(npf) == "sv"
    assert config.cohort_language(config.cohorts[1]) == "en"
    assert config.default_category().name == "Pedagogisk fråga"
    assert config.category_room(config.default_category()) == "#radgivning:example.org"
    teknik = config.category("teknik")
    assert teknik is not None
    assert config.category_room(teknik) == "#teknik:example.org"


def test_demo_config_is_valid() -> None:
    config = load_config(CONFIG_DIR / "demo.yaml")

    assert config.bot.user_id == "@natverk:localhost"
    assert config.bot.database == CONFIG_DIR / "natverk-demo.db"
    assert config.admins == ["@admin:localhost"]
    assert config.advisers.room == "#radgivning:localhost"
    assert config.all_advisers() == {"@radgivare1:localhost", "@radgivare2:localhost"}
    assert config.default_category().id == "pedagogik"
    teknik = config.category("teknik")
    assert teknik is not None
    assert teknik.members == ["@radgivare2:localhost"]
    assert config.category_room(teknik) == "#radgivning:localhost"
    assert [(c.id, config.cohort_language(c), c.room) for c in config.cohorts] == [
        ("npf-ht26", "sv", "#npf-ht26:localhost"),
        ("lasforstaelse-vt27", "en", "#lasforstaelse-vt27:localhost"),
    ]
    assert config.cohorts[1].name == "Läsförståelse VT27"
    assert config.cohorts[1].facilitators == ["@david:localhost"]
    assert config.cohorts[1].participants == ["@erik:localhost", "@fatima:localhost"]


def test_a_minimal_file_gets_the_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "homeserver: https://matrix.example.org\n"
        'bot: {user_id: "@natverk:example.org"}\n'
        'advisers: {room: "#radgivning:example.org", members: []}\n',
    )

    config = load_config(path)

    assert config.source == path
    assert config.bot.database == tmp_path / "natverk.db"
    assert (config.bot.language, config.bot.timezone) == ("sv", "Europe/Stockholm")
    assert config.bot.token_file is None
    assert (config.bot.display_name, config.bot.device_name) == ("natverk", "natverk-bot")
    assert config.bot.encrypt_for == "cross-signed"  # Element's "exclude insecure devices"
    assert config.advisers.name == "Rådgivning"
    assert config.advisers.attribution == "team"
    assert config.advisers.reminder_after_seconds == 24 * 3600
    assert [(c.id, c.name, c.default) for c in config.advisers.categories] == [
        ("allmant", "Allmän fråga", True)
    ]
    assert config.admins == []
    assert config.cohorts == []


def test_database_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    relative = _insert(BASE, 3, "  database: data/bot.db", "  token_file: secret/token")
    absolute = _insert(BASE, 3, "  database: /var/lib/natverk/natverk.db")

    bot = _load(tmp_path, relative).bot

    assert bot.database == tmp_path / "data" / "bot.db"
    assert bot.token_file == tmp_path / "secret" / "token"
    assert _load(tmp_path, absolute).bot.database == Path("/var/lib/natverk/natverk.db")


def test_unknown_key_names_file_line_and_path(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.replace("    participants:", "    participantz:"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert [str(p) for p in caught.value.problems] == [
        f"{path}:19: cohorts[0].participantz: unknown key; allowed keys are "
        "id, name, room, language, facilitators, participants, themes, share_materials, "
        "timezone, schedules, encryption"
    ]
    assert str(caught.value) == str(caught.value.problems[0])


def test_missing_key_points_at_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    text = BASE.replace('  room: "#radgivning:example.org"', "  name: Rådgivning")

    assert _problems(tmp_path, text) == [(8, "advisers.room", "required key is missing")]


def test_bad_user_id_is_reported_with_its_line(tmp_path: Path) -> None:
    text = BASE.replace('"@bertil:example.org"', "bertil")

    assert _problems(tmp_path, text) == [
        (
            20,
            "cohorts[0].participants[0]",
            "'bertil' is not a Matrix user id (expected @local:server)",
        )
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        (
            "https://matrix.example.org",
            "matrix.example.org",
            1,
            "homeserver",
            "'matrix.example.org' is not an http(s) URL (expected e.g. https://matrix.example.org)",
        ),
        (
            "language: sv",
            "language: de",
            4,
            "bot.language",
            "Input should be 'sv' or 'en'",
        ),
        (
            "Europe/Stockholm",
            "Europe/Stockholmm",
            5,
            "bot.timezone",
            "'Europe/Stockholmm' is not a known time zone",
        ),
        (
            "timezone: Europe/Stockholm",
            "timezone: Europe/Stockholm\n  replace_master_key: AAAA",
            6,
            "bot.replace_master_key",
            "'AAAA' is not a cross-signing master key (43 characters of unpadded base64, "
            "as the admins' notice names it)",
        ),
        (
            "timezone: Europe/Stockholm",
            "timezone: Europe/Stockholm\n  encrypt_for: everyone",
            6,
            "bot.encrypt_for",
            "Input should be 'cross-signed' or 'all-devices'",
        ),
        (
            "reminder_after: 24h",
            "reminder_after: 1 day",
            10,
            "advisers.reminder_after",
            "'1 day' is not a duration (expected e.g. 30m, 4h or 2d)",
        ),
        (
            "id: npf-ht26",
            "id: NPF HT26",
            14,
            "cohorts[0].id",
            "'NPF HT26' is not a valid id (use lowercase letters, digits, - and _)",
        ),
        (
            "name: Studiepaket NPF, HT26",
            "name: [Studiepaket NPF]",
            15,
            "cohorts[0].name",
            "Input should be a valid string",
        ),
        (
            '"#npf-ht26:example.org"',
            "npf-ht26",
            16,
            "cohorts[0].room",
            "'npf-ht26' is not a room alias or room id (expected #alias:server or !id:server)",
        ),
    ],
)
def test_a_bad_value_is_reported_at_its_key(
    tmp_path: Path, old: str, new: str, line: int, path: str, message: str
) -> None:
    assert _problems(tmp_path, BASE.replace(old, new)) == [(line, path, message)]


@pytest.mark.parametrize(("duration", "seconds"), [("30m", 1800), ("4h", 14400), ("2d", 172800)])
def test_reminder_after_is_minutes_hours_or_days(
    tmp_path: Path, duration: str, seconds: int
) -> None:
    config = _load(tmp_path, BASE.replace("reminder_after: 24h", f"reminder_after: {duration}"))

    assert config.advisers.reminder_after_seconds == seconds


def test_duplicate_cohort_id(tmp_path: Path) -> None:
    text = BASE + SECOND_COHORT.replace("id: lasforstaelse-vt27", "id: npf-ht26")

    assert _problems(tmp_path, text) == [
        (22, "cohorts[1].id", "duplicate cohort id 'npf-ht26' (first at cohorts[0].id)")
    ]


def test_a_room_alias_belongs_to_one_room_only(tmp_path: Path) -> None:
    text = BASE + SECOND_COHORT.replace("#lasforstaelse-vt27:", "#radgivning:")

    assert _problems(tmp_path, text) == [
        (
            24,
            "cohorts[1].room",
            "duplicate room '#radgivning:example.org' (first at advisers.room)",
        )
    ]


def test_categories_with_and_without_their_own_room(tmp_path: Path) -> None:
    config = _load(tmp_path, _with_categories())

    assert config.default_category().id == "pedagogik"
    assert config.category_room(config.default_category()) == "#radgivning:example.org"
    teknik = config.category("teknik")
    assert teknik is not None
    assert config.category_room(teknik) == "#teknik:example.org"
    assert config.category("allmant") is None
    assert config.all_advisers() == {"@radgivare:example.org", "@tekniker:example.org"}


def test_duplicate_category_id(tmp_path: Path) -> None:
    text = _with_categories(CATEGORIES.replace("id: teknik", "id: pedagogik"))

    assert _problems(tmp_path, text) == [
        (
            14,
            "advisers.categories[1].id",
            "duplicate category id 'pedagogik' (first at advisers.categories[0].id)",
        )
    ]


def test_exactly_one_category_is_the_default(tmp_path: Path) -> None:
    none = _with_categories(CATEGORIES.replace("default: true ", "default: false"))
    two = _with_categories(CATEGORIES.replace('room: "#teknik:example.org"', "default: true"))

    assert _problems(tmp_path, none) == [
        (10, "advisers.categories", "one category needs 'default: true'; none has it")
    ]
    assert _problems(tmp_path, two) == [
        (
            16,
            "advisers.categories[1].default",
            "only one category can be the default; advisers.categories[0] already is",
        )
    ]


def test_adviser_who_is_also_participant_is_rejected(tmp_path: Path) -> None:
    text = BASE.replace('"@cecilia:example.org"', '"@radgivare:example.org"')

    assert _problems(tmp_path, text) == [
        (
            21,
            "cohorts[0].participants[1]",
            "'@radgivare:example.org' is listed both as adviser and as participant of cohort "
            "'npf-ht26'",
        )
    ]


def test_category_adviser_who_is_also_participant_is_rejected(tmp_path: Path) -> None:
    text = _with_categories(CATEGORIES.replace("@tekniker:", "@bertil:"))

    assert _problems(tmp_path, text) == [
        (
            28,  # line 20 of BASE, moved down by the 8 category lines
            "cohorts[0].participants[0]",
            "'@bertil:example.org' is listed both as adviser and as participant of cohort "
            "'npf-ht26'",
        )
    ]


def test_facilitator_who_is_also_participant_is_rejected(tmp_path: Path) -> None:
    text = BASE.replace('"@bertil:example.org"', '"@anna:example.org"')

    assert _problems(tmp_path, text) == [
        (
            20,
            "cohorts[0].participants[0]",
            "'@anna:example.org' is listed both as facilitator and as participant of cohort "
            "'npf-ht26'",
        )
    ]


def test_the_bot_is_not_a_member_anywhere(tmp_path: Path) -> None:
    text = BASE.replace('"@admin:', '"@natverk:').replace('"@anna:', '"@natverk:')

    message = "'@natverk:example.org' is the bot's own user id and cannot be listed as a member"
    assert _problems(tmp_path, text) == [
        (7, "admins[0]", message),
        (18, "cohorts[0].facilitators[0]", message),
    ]


def test_secrets_in_yaml_are_rejected(tmp_path: Path) -> None:
    text = _insert(BASE, 3, "  password: hunter2")
    text = _insert(text, 17, "    access_token: abc")

    problems = _problems(tmp_path, text)

    assert [(line, path) for line, path, _ in problems] == [
        (4, "bot.password"),
        (18, "cohorts[0].access_token"),
    ]
    assert problems[0][2] == (
        "secrets do not belong in this file; use the NATVERK_PASSWORD or NATVERK_ACCESS_TOKEN "
        "environment variable, or bot.token_file"
    )


def test_source_is_set_by_the_loader_not_by_the_file(tmp_path: Path) -> None:
    text = BASE + "source: /etc/other.yaml\n"

    assert _problems(tmp_path, text) == [
        (
            22,
            "source",
            "unknown key; allowed keys are homeserver, bot, admins, advisers, cohorts, themes, "
            "surveys, evaluation, metrics, retention, privacy",
        )
    ]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = _insert(BASE, 16, "    room: '#annan:example.org'")

    assert _problems(tmp_path, text) == [
        (17, "cohorts[0].room", "duplicate key (first at line 16)")
    ]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    text = BASE.replace("name: Studiepaket NPF, HT26", "name: Studiepaket: NPF")

    assert _problems(tmp_path, text) == [
        (15, "<root>", "YAML syntax error: mapping values are not allowed here")
    ]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace("https://", "ftp://")
        .replace('"@admin:example.org"', "admin")
        .replace("24h", "a day")
        .replace("    participants:", "    participantz:")
    )
    text = _insert(text, 3, "  token: abc")  # everything below moves down one line
    text = _insert(text, 16, "    name: Igen")

    assert [(line, path) for line, path, _ in _problems(tmp_path, text)] == [
        (1, "homeserver"),
        (4, "bot.token"),
        (8, "admins[0]"),
        (11, "advisers.reminder_after"),
        (17, "cohorts[0].name"),
        (21, "cohorts[0].participantz"),
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == [
        Problem(str(path), None, "<root>", "cannot read the file (No such file or directory)")
    ]
    assert str(caught.value) == f"{path}: <root>: cannot read the file (No such file or directory)"


def test_an_empty_file_is_not_a_network(tmp_path: Path) -> None:
    assert _problems(tmp_path, "") == [(None, "<root>", "expected a mapping of keys and values")]


def test_roles_in_cohort(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + SECOND_COHORT)

    assert config.roles_in_cohort("@bertil:example.org", "npf-ht26") == {Role.PARTICIPANT}
    assert config.roles_in_cohort("@anna:example.org", "npf-ht26") == {Role.FACILITATOR}
    assert config.roles_in_cohort("@anna:example.org", "lasforstaelse-vt27") == set()
    assert config.roles_in_cohort("@admin:example.org", "npf-ht26") == {Role.ADMIN}
    assert config.roles_in_cohort("@radgivare:example.org", "npf-ht26") == {Role.ADVISER}
    assert config.roles_in_cohort("@stranger:example.org", "npf-ht26") == set()
    assert config.roles_in_cohort("@bertil:example.org", "no-such-cohort") == set()


def test_global_roles_and_the_cohorts_of_a_person(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + SECOND_COHORT.replace('"@erik:', '"@anna:'))

    assert config.global_roles("@anna:example.org") == {Role.FACILITATOR, Role.PARTICIPANT}
    assert config.global_roles("@admin:example.org") == {Role.ADMIN}
    assert config.global_roles("@radgivare:example.org") == {Role.ADVISER}
    assert [c.id for c in config.cohorts_of("@anna:example.org")] == [
        "npf-ht26",
        "lasforstaelse-vt27",
    ]
    assert config.cohorts_of("@radgivare:example.org") == []
    assert config.cohort("no-such-cohort") is None


def test_known_users_are_everyone_configured_but_the_bot(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE)

    assert config.known_users() == {
        "@admin:example.org",
        "@radgivare:example.org",
        "@anna:example.org",
        "@bertil:example.org",
        "@cecilia:example.org",
    }


# --- materials catalogue: themes and sharing -------------------------------------------------

THEMES = """\
themes:                                 # 22
  - id: lasforstaelse                   # 23
    name: Läsförståelse                 # 24
    tags: ["#läsning", lasstrategier]   # 25
    entries:                            # 26
      - title: Lässtrategier            # 27
        url: https://www.spsm.se/lasforstaelse/  # 28
        description: Ingång             # 29
"""

COHORT_THEME = """\
    share_materials: true               # 22
    themes:                             # 23
      - id: npf                         # 24
        name: NPF i klassrummet         # 25
"""


def test_themes_for_the_network_and_for_a_cohort(tmp_path: Path) -> None:
    config = _load(tmp_path, BASE + COHORT_THEME + THEMES.replace("# 22", "# 26"))

    theme = config.themes[0]
    assert (theme.id, theme.name, theme.tags) == (
        "lasforstaelse",
        "Läsförståelse",
        ["läsning", "lasstrategier"],
    )
    assert theme.entries[0].url == "https://www.spsm.se/lasforstaelse/"
    npf = config.cohorts[0]
    assert npf.share_materials and [t.id for t in npf.themes] == ["npf"]
    assert [t.id for t in config.themes_for([npf])] == ["lasforstaelse", "npf"]
    assert config.shared_cohorts() == [npf]
    # Without the keys: no themes, and nothing shared beyond the cohort.
    plain = _load(tmp_path, BASE)
    assert plain.themes == [] and plain.cohorts[0].themes == [] and plain.shared_cohorts() == []


def test_theme_entry_url_must_be_http_with_its_line(tmp_path: Path) -> None:
    text = BASE + THEMES.replace("https://www.spsm.se/lasforstaelse/", "javascript:alert(1)")
    assert _problems(tmp_path, text) == [
        (
            28,
            "themes[0].entries[0].url",
            "'javascript:alert(1)' is not an http(s) URL (expected e.g. https://www.spsm.se/...)",
        )
    ]


def test_theme_tags_and_unknown_theme_keys_are_reported(tmp_path: Path) -> None:
    text = BASE + THEMES.replace("lasstrategier]", "två ord]").replace(
        "description: Ingång", "beskrivning: Ingång"
    )
    problems = _problems(tmp_path, text)
    assert problems[0][:2] == (25, "themes[0].tags[1]")
    assert "is not a tag" in problems[0][2]
    assert problems[1][:2] == (29, "themes[0].entries[0].beskrivning")
    assert "allowed keys are title, url, description" in problems[1][2]


def test_duplicate_theme_ids_in_the_network_and_in_a_cohort(tmp_path: Path) -> None:
    twice = THEMES + THEMES.split("\n", 1)[1]
    assert _problems(tmp_path, BASE + twice)[0][:2] == (30, "themes[1].id")
    clash = BASE + COHORT_THEME.replace("id: npf", "id: lasforstaelse") + THEMES
    assert _problems(tmp_path, clash) == [
        (
            24,
            "cohorts[0].themes[0].id",
            "theme id 'lasforstaelse' is already a network theme (themes[0])",
        )
    ]


def test_evaluation_criteria_and_phases_are_checked_with_lines(tmp_path: Path) -> None:
    start = len(BASE.splitlines()) + 1
    text = BASE + (
        "evaluation:\n"
        "  phases:\n"
        "    - {id: behov, name: Behov, from: 2027-02-01, to: 2027-03-15}\n"
        "    - {id: drift, name: Drift, from: 2027-03-10, to: 2027-10-31}\n"
        "    - {id: sen, name: Sen, from: 2027-12-01, to: 2027-11-01}\n"
        "  criteria:\n"
        "    - {id: a, name: A, indicator: happiness, at_least: 1}\n"
        "    - {id: b, name: B, indicator: active_share, at_least: 150%}\n"
        "    - {id: c, name: C, indicator: first_response_median, at_most: soon}\n"
        "    - {id: d, name: D, indicator: answered_within, at_least: 90%}\n"
        "    - {id: e, name: E, indicator: peer_reply_share}\n"
    )
    problems = _problems(tmp_path, text)
    assert problems == [
        (
            start + 3,
            "evaluation.phases[1].from",
            "phase 'drift' overlaps phase 'behov' (evaluation.phases[0]: 2027-02-01 to 2027-03-15)",
        ),
        (start + 4, "evaluation.phases[2].to", "'to' is before 'from'"),
        (
            start + 6,
            "evaluation.criteria[0].indicator",
            "unknown indicator 'happiness' (known: active_share, answered_within,"
            " first_response_median, checkin_reply_rate, survey_response_rate, peer_reply_share,"
            " materials_per_active_member, self_assessment_change)",
        ),
        (
            start + 7,
            "evaluation.criteria[1].at_least",
            "'150%' is not a threshold for active_share (expected a share such as 90% or 0.9)",
        ),
        (
            start + 8,
            "evaluation.criteria[2].at_most",
            "'soon' is not a threshold for first_response_median"
            " (expected a duration such as 4h or 2d (or a number of hours))",
        ),
        (start + 9, "evaluation.criteria[3].within", "answered_within needs 'within' (e.g. 2d)"),
        (
            start + 10,
            "evaluation.criteria[4]",
            "a criterion needs exactly one of at_least or at_most",
        ),
    ]


def test_evaluation_thresholds_in_their_units(tmp_path: Path) -> None:
    text = BASE + (
        "evaluation:\n"
        "  criteria:\n"
        "    - {id: a, name: A, indicator: active_share, at_least: 50%}\n"
        "    - {id: b, name: B, indicator: checkin_reply_rate, at_least: 0.7}\n"
        "    - {id: c, name: C, indicator: first_response_median, at_most: 2d}\n"
        "    - {id: d, name: D, indicator: self_assessment_change, at_least: '0,5'}\n"
    )
    config = _load(tmp_path, text)
    assert [c.bound() for c in config.evaluation.criteria] == [
        ("at_least", 0.5),
        ("at_least", 0.7),
        ("at_most", 48.0),
        ("at_least", 0.5),
    ]
    assert config.evaluation.min_group == 3 and config.evaluation.retention_seconds == 400 * 86400

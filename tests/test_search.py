"""The answer engine: question -> section cases, decisions, scores and Slack markup."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content import load_library
from bot.engine.search import (
    MAX_ALTERNATIVES,
    build_index,
    clean_question,
    leaning_phrasings,
)

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "questions.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["question"][:40] for c in CASES])
def test_question_finds_section(shipped_index, case):
    """Each question in cases/questions.yml gets its section and an allowed decision."""
    answer = shipped_index.answer(case["question"])
    assert answer.decision in case["decision"], (answer.decision, answer.score)
    if case["section"] is not None:
        assert answer.best is not None
        assert answer.best.section.name == case["section"]


def test_scores_are_0_to_100_and_alternatives_capped(shipped_index):
    """Every match carries a score from 0 to 100, best first, with at most 3 alternatives."""
    for q in ["devops", "coach", "what does a devops specialist do", "x" * 5000]:
        answer = shipped_index.answer(q)
        assert len(answer.alternatives) <= MAX_ALTERNATIVES
        scores = [m.score for m in (answer.best, *answer.alternatives) if m]
        assert all(0 <= s <= 100 for s in scores)
        assert scores == sorted(scores, reverse=True)


def test_two_unrelated_sections_tied_get_a_did_you_mean(make_content):
    """Two sections of different documents that match a question equally well: the bot
    cannot tell which is meant, so it offers both as buttons instead of showing one."""
    rota = "The rota lists who is on call each week.\n"
    root = make_content({
        "ops.md": "# Operations\n\nHow ops works.\n\n## On-call rota\n\n" + rota,
        "dev.md": "# Development\n\nHow dev works.\n\n## On-call rota\n\n" + rota,
    })  # fmt: skip
    answer = build_index(load_library(root)).answer("on-call rota")
    assert answer.decision == "suggest" and not answer.answered
    assert {answer.best.section.document, answer.alternatives[0].section.document} == {
        "Operations", "Development"}  # fmt: skip
    assert answer.best.score == answer.alternatives[0].score


def test_the_decision_follows_the_calibrated_probability():
    """answer at answer_at or more, a best guess from hedge_at, a did-you-mean for a tie with
    an unrelated section however likely, a decline below hedge_at."""
    from bot.engine.decision import Calibration, decide

    cal = Calibration((0.0,) * 7, 0.0, answer_at=0.8, hedge_at=0.4)
    assert [decide(p, False, cal) for p in (0.9, 0.8, 0.5, 0.4, 0.39)] == [
        "answer", "answer", "hedged", "hedged", "decline"]  # fmt: skip
    assert [decide(p, True, cal) for p in (0.9, 0.5, 0.3)] == ["suggest", "suggest", "decline"]


def test_the_shipped_calibration_is_what_bench_calibrate_writes():
    """bot/engine/calibration.json (and calibration-hybrid.json, with the fusion) name the
    features the engine computes and the rule and command that fitted them; their
    probabilities are probabilities."""
    import json
    from importlib import resources

    from bot.engine.decision import FEATURES, HYBRID_FEATURES, shipped_calibration

    data = json.loads(resources.files("bot.engine").joinpath("calibration.json").read_text())
    assert tuple(data["features"]) == FEATURES
    assert data["command"] == "python bench/calibrate.py --write" and "logistic" in data["rule"]
    cal = shipped_calibration()
    assert 0 < cal.hedge_at <= cal.answer_at < 1
    hybrid = json.loads(
        resources.files("bot.engine").joinpath("calibration-hybrid.json").read_text()
    )
    assert tuple(hybrid["features"]) == HYBRID_FEATURES
    assert hybrid["command"] == "python bench/calibrate.py --write --hybrid"
    cal = shipped_calibration(hybrid=True)
    assert 0 < cal.hedge_at <= cal.answer_at < 1
    assert cal.fusion is not None and cal.fusion.share > 0 and cal.fusion.candidates >= 0


def test_decline_keeps_best_candidate_when_there_is_one(shipped_index):
    """A decline with a weak candidate still reports it (document and section)."""
    answer = shipped_index.answer("how do I monitor the coffee machine budget spreadsheet")
    assert answer.decision in ("decline", "suggest")
    assert answer.best is not None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<@U123> what does the coach do", "what does the coach do"),
        ("<@U123|bob> hi", "hi"),
        ("see <#C1|general>", "see"),
        ("read <https://x.example|the coach page>", "read the coach page"),
        ("<https://x.example> coach", "coach"),
        ("<!here> coach &amp; manager &lt;3", "coach & manager <3"),
    ],
)
def test_clean_question_removes_slack_markup(raw, clean):
    """Mentions and channel links are dropped, link labels kept, entities unescaped."""
    assert clean_question(raw) == clean


def test_parent_does_not_win_by_containing_children(shipped_index):
    """'coach' is The Coach, not its parent section that contains it."""
    answer = shipped_index.answer("the coach")
    assert answer.best.section.name == "The Coach"
    assert answer.best.section.parent is not None
    assert "The Coach" in shipped_index.section(answer.best.section.parent).markdown


def test_answer_text_includes_subsections(shipped_index):
    """Answering with a parent section shows its subsections too."""
    answer = shipped_index.answer("how does a devops specialist work")
    assert answer.best.section.name == "How a DevOps Specialist Works"
    assert "### The Coach" in answer.best.section.markdown


def test_owner_phrasings_and_synonyms(make_content):
    """Front matter questions and a synonyms.yml in the content folder steer matching."""
    root = make_content(
        {
            "role.md": "---\ntitle: Ops\nquestions:\n  Pager Duty:\n    - who wakes up at night\n"
            "---\n# Ops\n\n## Pager Duty\n\nRotation rules.\n\n## Budget\n\nSpending.\n",
            "synonyms.yml": "synonyms:\n  budget: [money, spend]\n",
        }
    )
    index = build_index(load_library(root))
    assert index.answer("who wakes up at night?").best.section.name == "Pager Duty"
    assert index.answer("money").best.section.name == "Budget"


def test_works_on_a_real_docusaurus_folder():
    """The knowledge hub answers a release question with the release section."""
    from tests.conftest import KNOWLEDGEHUB

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    index = build_index(load_library(KNOWLEDGEHUB))
    answer = index.answer("what is a hotfix?")
    assert "otfix" in answer.best.section.name


def test_a_heading_asked_word_for_word_is_answered(make_content):
    """Asking exactly a heading answers it even when near neighbours score close; asking only
    what every section shares ('devops' in a DevOps doc) does not."""
    hotfix = (
        "# HotFix\n\nHotfixes fix production fast.\n\n## What is a Hotfix?\n\n"
        "A hotfix is an urgent fix.\n\n## Key Stages of Managing a Hotfix\n\nPlan the hotfix.\n\n"
        "## How to Minimize Risks When Implementing a Hotfix\n\nTest the hotfix.\n"
    )
    others = {
        f"doc{i}.md": f"# Topic {i}\n\n## Part {i}\n\nReleases and backups {i}.\n" for i in range(8)
    }
    root = make_content({"hotfix.md": hotfix, **others})
    index = build_index(load_library(root))
    close = index.answer("what is a hotfix")
    assert close.best.section.name == "What is a Hotfix?"
    assert close.alternatives and close.best.score - close.alternatives[0].score < 12
    assert close.decision == "answer"


def test_a_word_every_section_shares_is_not_an_exact_ask(shipped_index):
    """The document's title ('DevOps') asked alone is a key of the overview, but every section
    shares it: the overview comes first, but not as a word-for-word ask."""
    answer = shipped_index.answer("devops")
    assert answer.best.section.name == "The Role of a DevOps Specialist"
    assert not shipped_index.asked_word_for_word("devops", [answer.best, *answer.alternatives])


@pytest.mark.parametrize(
    "question, section",
    [
        # Owner phrasings of the overview, next to "What a DevOps Specialist Does", which has
        # the question word "what" in its heading and scored higher before.
        ("what is a devops specialist", "The Role of a DevOps Specialist"),
        ("What is DevOps?", "The Role of a DevOps Specialist"),
        # Owner phrasings whose words every section shares ("devops specialist", "work").
        ("how does a devops specialist work", "How a DevOps Specialist Works"),
        ("why do we have a devops specialist", "Why a DevOps Specialist is Needed"),
    ],
)
def test_an_owner_phrasing_asked_word_for_word_is_answered(shipped_index, question, section):
    """A question that is word for word one section's owner phrasing is that section's, first
    and answered outright, with a full relevance score, whatever the other sections score."""
    answer = shipped_index.answer(question)
    assert (answer.best.section.name, answer.decision, answer.best.score) == (
        section, "answer", 100)  # fmt: skip
    assert all(m.section.name != section for m in answer.alternatives)


def test_building_an_index_leaves_the_garbage_collector_as_it_was(make_content):
    """The build pauses Python's cyclic collector and restores it, on or off, afterwards."""
    import gc

    library = load_library(make_content({"a.md": "# A\n\nText.\n\n## B\n\nMore text.\n"}))
    assert gc.isenabled()
    build_index(library)
    assert gc.isenabled()
    gc.disable()
    try:
        build_index(library)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_is_and_does_tell_question_shapes_apart(make_content):
    """'what does a release manager do' asks about the role, not 'What is Release Management?',
    even though both headings hold 'what' and the stems of 'release manager'."""
    doc = (
        "# Releases\n\nHow we ship.\n\n## What is Release Management?\n\n"
        "Release management plans, schedules and controls releases.\n\n"
        "## The Role of a Release Manager\n\nA release manager coordinates the release.\n"
    )
    others = {f"doc{i}.md": f"# Topic {i}\n\n## Part {i}\n\nBackups {i}.\n" for i in range(6)}
    index = build_index(load_library(make_content({"releases.md": doc, **others})))
    assert index.answer("what does a release manager do").best.section.name == (
        "The Role of a Release Manager"
    )
    assert index.answer("what is release management").best.section.name == (
        "What is Release Management?"
    )
    # A chat spelling of the question word asks the same question.
    assert index.answer("wat is release management").best.section.name == (
        "What is Release Management?"
    )


def _reference_postings(library):
    """The index's postings computed the plain way, section by section: a term's strength in
    a section is the greatest of 1.0 (its heading or an owner phrasing), 0.6 (a parent
    heading, the title or a folder label) and BM25's saturating term frequency in its text."""
    from collections import Counter

    from bot.engine import index as search
    from bot.engine import words

    texts = [
        [w for w in words.words_of(s.own_text) if w not in words.FILLER] for s in library.sections
    ]
    avg = max(1.0, sum(map(len, texts)) / max(1, len(texts)))
    tables = ({}, {})
    for i, (s, text) in enumerate(zip(library.sections, texts, strict=True)):
        k = search.BM25_K1 * (1 - search.BM25_B + search.BM25_B * len(text) / avg)
        best = ({}, {})
        for pos in (0, 1):
            for term, tf in Counter(words.term_keys(w)[pos] for w in text).items():
                best[pos][term] = search.IN_TEXT + (search.IN_TEXT_MAX - search.IN_TEXT) * tf / (
                    tf + k
                )
        named = [(w, search.IN_CONTEXT) for c in s.context for w in words.topic_words(c)]
        named += [
            (w, search.IN_HEADING) for h in (s.name, *s.phrasings) for w in words.topic_words(h)
        ]
        for w, strength in named:
            for pos in (0, 1):
                term = words.term_keys(w)[pos]
                best[pos][term] = max(best[pos].get(term, 0.0), strength)
        for pos in (0, 1):
            for term, strength in best[pos].items():
                if term is not None:
                    tables[pos].setdefault(term, []).append((i, strength))
    return tables


@pytest.mark.parametrize("packed_bits", [63, 0], ids=["packed", "sorted-apart"])
def test_index_postings_match_the_plain_computation(
    make_content, shipped_library, monkeypatch, packed_bits
):
    """The bulk (numpy) build gives every term the sections and strengths the plain
    section-by-section computation gives, on the shipped doc and on one with repeated words,
    parent headings, owner phrasings and plural forms (a word in a section's text, heading,
    parent heading and two phrasings: one posting), and a word said 70,000 times (more
    than two bytes count). Both ways of sorting the postings: packed in one int64 each,
    and apart (for folders whose postings do not fit in one)."""
    import bot.engine.index as index_module

    monkeypatch.setattr(index_module, "PACKED_BITS", packed_bits)
    root = make_content(
        {
            "logs.md": "# Logs\n\n" + "flood " * 70_000 + "\n\n## Quiet\n\nOne flood.\n",
            "ops/runbooks.md": "---\ntitle: Runbooks\nquestions:\n  Restarts: [rebooting hosts]\n"
            "  Hosts: [restarting host groups, which host restarts]\n"
            "---\n# Runbooks\n\nRunbooks runbooks everywhere.\n\n## Restarts\n\n"
            "Restart the servers; servers restart slowly. Deployments too.\n\n"
            "### Hosts\n\nHosts and host groups.\n",
            "empty.md": "# Empty\n",
        }
    )
    for library in (shipped_library, load_library(root)):
        index = build_index(library)
        expected = _reference_postings(library)
        for got, want in zip((index.postings, index.form_postings), expected, strict=True):
            assert set(got) == set(want)
            for term, entries in want.items():
                rows, strengths = index.holding(got, term)
                assert rows.tolist() == [i for i, _ in entries]
                assert strengths.tolist() == pytest.approx([v for _, v in entries], abs=1e-6)


def test_a_question_with_no_key_words_is_not_asked_word_for_word(make_content):
    """A heading of only numbers ('1.') has no key words, and neither has a question of only a
    number: that is no word-for-word ask, so no full score and no outright answer by it."""
    root = make_content(
        {"steps.md": "# Steps\n\nIntro.\n\n## 1.\n\nDo it 22 times.\n\n## 2.\n\nThen stop.\n"}
    )
    index = build_index(load_library(root))
    matches = index.search("22")
    assert matches[0].section.name == "1." and matches[0].score < 100
    assert not index.asked_word_for_word("22", matches)


@pytest.mark.parametrize(
    "heading, aliases",
    [
        (
            "Partial Metadata Deployment (Delta Deployment)",
            ["delta deployment", "partial metadata deployment"],
        ),
        ("Continuous Integration (CI)", ["ci", "continuous integration"]),
        ("Security Health Check \u2013 Overview", ["security health check"]),
        ("Introduction to Release Trains", ["release trains"]),
        ("Overview", []),
        ("The Coach", []),
        ("Release (v2)", ["v2", "release"]),
        ("Step (1)", []),
    ],
)
def test_heading_aliases(heading, aliases):
    """A heading's parenthesis names its section too, and so does the heading without it, or
    without a word like 'Overview'; numbers and filler alone name nothing."""
    from bot.engine.words import heading_aliases

    assert heading_aliases(heading) == aliases


def test_a_section_is_asked_for_by_another_name_its_heading_gives_it(make_content):
    """'what is a delta deployment' asks for 'Partial Metadata Deployment (Delta Deployment)',
    not for a sibling that only talks about delta deployments; a subject alone asks for its
    'Overview' section, not for 'Key Features of' it."""
    deploy = (
        "# Deployment\n\nWays to deploy metadata.\n\n"
        "## Partial Metadata Deployment (Delta Deployment)\n\nOnly changed components ship.\n\n"
        "### Delta deployment is suitable for the following situations:\n\n"
        "- small delta deployment batches\n- frequent delta deployment of changes\n\n"
        "## Full Deployment\n\nEverything ships.\n"
    )
    health = (
        "# Health Check\n\nA built-in tool.\n\n## Security Health Check \u2013 Overview\n\n"
        "It scores your org.\n\n## Key Features of Security Health Check\n\n"
        "Security health check scores, security health check baselines.\n\n"
        "## Recommendations for Using Security Health Check\n\nRun it monthly.\n"
    )
    index = build_index(load_library(make_content({"deploy.md": deploy, "health.md": health})))
    delta = index.answer("what is a delta deployment")
    assert delta.best.section.name == "Partial Metadata Deployment (Delta Deployment)"
    named = index.answer("delta deployment")
    assert named.best.section.name == "Partial Metadata Deployment (Delta Deployment)"
    assert (named.decision, named.best.score) == ("answer", 100)
    overview = index.answer("security health check")
    assert overview.best.section.name == "Security Health Check \u2013 Overview"
    assert overview.decision == "answer"


#: A role document whose "How ... Works" section lists the roles its subsections describe.
DELIVERY_MANAGER = (
    "---\ntitle: Delivery Manager\n---\n# The Role of a Delivery Manager\n\n"
    "A delivery manager ships releases.\n\n## How a Delivery Manager Works\n\n"
    "A delivery manager works as a project manager, a mentor, a planner and a reporter.\n\n"
    "### The Mentor\n\nCoaches the team and reviews plans.\n\n"
    "### The Planner\n\nPlans the releases and the sprints.\n\n"
    "### The Reporter\n\nReports progress to stakeholders every week.\n"
)


def test_a_section_is_asked_for_by_its_document_and_heading(make_content):
    """'delivery manager as a mentor' names the document and the section's heading: it asks
    for The Mentor, not for the parent whose text lists the mentor among other roles."""
    index = build_index(load_library(make_content({"dm.md": DELIVERY_MANAGER})))
    answer = index.answer("delivery manager as a mentor")
    assert (answer.best.section.name, answer.decision) == ("The Mentor", "answer")


def test_a_question_naming_several_subsections_asks_for_their_section(make_content):
    """'so a delivery manager is mentor, planner and reporter in one?' names three subsections:
    it asks for the section that holds them all, not for the one it names most strongly."""
    index = build_index(load_library(make_content({"dm.md": DELIVERY_MANAGER})))
    both = index.answer("so a delivery manager is mentor, planner and reporter in one?")
    assert both.best.section.name == "How a Delivery Manager Works"
    one = index.answer("is a delivery manager a planner?")
    assert one.best.section.name == "The Planner"


def test_shipped_phrasings_use_no_other_sections_heading_words(shipped_library):
    """An owner phrasing counts as much as its section's heading, so a word of another
    section's heading in it pulls that section's questions over: "what does devops work on
    day to day" (What a DevOps Specialist Does) took "devops working style" from How a DevOps
    Specialist Works. None of the shipped phrasings does it (`check` shows them as hints)."""
    assert leaning_phrasings(shipped_library) == []


def test_leaning_phrasings_name_the_word_and_the_heading(make_content):
    """A phrasing word that is another heading's and not its own section's is found, with that
    heading; a word its own heading path or text says is not ('team' below)."""
    doc = (
        "---\nquestions:\n  The Coach: [who builds the pipelines, who trains the team]\n---\n"
        "# Team\n\nThe team.\n\n## The Coach\n\nTrains people.\n\n"
        "## Pipelines\n\nBuilds and deploys.\n"
    )
    library = load_library(make_content({"team.md": doc}))
    found = [
        (h.section.name, h.phrasing, h.words, h.other.name) for h in leaning_phrasings(library)
    ]
    assert found == [("The Coach", "who builds the pipelines", ("pipelines",), "Pipelines")]


def test_a_role_word_beside_telling_words_counts_for_no_section(make_content):
    """'is scripting part of the tester job' asks about scripting: 'job' there is the role,
    not the topic, so the section whose phrasing says 'job' does not take it. Asked alone
    with the role's name ('tester job?'), 'job' is the topic."""
    doc = (
        "---\ntitle: Tester\nquestions:\n  What a Tester Does: [what is the tester job]\n---\n"
        "# The Role of a Tester\n\nA tester checks releases before they ship.\n\n"
        "## What a Tester Does\n\nChecks releases and files bugs.\n\n"
        "## Pipelines\n\nThe scripting that runs the checks on every commit.\n"
    )
    index = build_index(load_library(make_content({"tester.md": doc})))
    assert index.answer("is scripting part of the tester job").best.section.name == "Pipelines"
    assert index.answer("tester job?").best.section.name == "What a Tester Does"


def test_a_common_english_word_is_not_read_as_a_typo(make_content):
    """'version' is two edits from the docs' 'person' but is a word of its own: it stays
    'version'. A misspelling ('persn') and a rare word one slip from a docs word ('manger')
    are still corrected."""
    doc = "# Team\n\n## The Contact Person\n\nAsk them first.\n\n## The Manager\n\nPlans.\n"
    index = build_index(load_library(make_content({"team.md": doc})))

    def read_as(question: str) -> list[tuple[tuple[str, ...], ...]]:
        return [c.alternatives for c in index.concepts(question)[0]]

    assert read_as("version") == [(("version",),)]
    assert read_as("persn") == [(("person",),)]
    assert read_as("manger") == [(("manager",),)]
    assert index.answer("the short version").decision == "decline"


def test_abbreviations_the_docs_define_are_synonyms(make_content):
    """'Contracting Officer's Representative (COR)' makes 'cor' ask for it, and so does an
    abbreviation whose letters are not all initials ('interagency agreement (IAA)'); one that
    is a common English word ('FAR', 'AM') is read only where a question types it in capitals,
    and not in questions that use the word."""
    root = make_content({
        "buying.md": "# Buying\n\nHow we buy.\n\n"
        "## Oversight\n\nThe Contracting Officer's Representative (COR) checks the work.\n\n"
        "## Rules\n\nThe Federal Acquisition Regulation (FAR) governs purchases.\n\n"
        "## Progress\n\nHow far along a purchase is shows on the board. I am told it moves.\n\n"
        "## Paperwork\n\nEvery project signs an interagency agreement (IAA) first.\n\n"
        "## People\n\nYour **Account Manager** (AM) knows the client. Ask the Office of\n"
        "Management and Budget (OMB) for numbers.\n",
    })  # fmt: skip
    index = build_index(load_library(root))
    assert index.answer("who is our cor").best.section.name == "Oversight"
    assert index.answer("how far along is it").best.section.name == "Progress"
    assert index.answer("which rules does the FAR set").best.section.name == "Rules"
    assert index.answer("what must we sign before the iaa").best.section.name == "Paperwork"
    assert index.answer("who is my AM").best.section.name == "People"
    # Shouted, every word is in capitals: none is read as an abbreviation.
    assert "am" in {c.label for c in index.concepts("who is my AM")[0]}
    assert "am" not in {c.label for c in index.concepts("WHO IS MY AM")[0]}
    from bot.engine.index import defined_abbreviations

    found = defined_abbreviations(index.sections)
    assert found.plain == {
        "contracting officer's representative": ("cor",),
        "interagency agreement": ("iaa",),
        "office of management and budget": ("omb",),
    }
    assert found.capitals == {
        "federal acquisition regulation": ("far",),
        "account manager": ("am",),
    }


def test_an_initialism_typed_in_capitals_asks_for_the_heading_it_abbreviates(make_content):
    """'SRE' typed in capitals is the docs' Site Reliability Engineer, and so is 'sre', which
    the shipped synonyms give another meaning (system administrator); where the docs name no
    such role, that shipped meaning holds."""
    root = make_content({
        "sre.md": "# IT Site Reliability Engineer\n\nKeeps the internal tools running.\n\n"
        "## Vice President, Operations\n\nLeads the operations group.\n",
        "admin.md": "# System Administrator\n\nLooks after servers and accounts.\n",
    })  # fmt: skip
    index = build_index(load_library(root))
    assert index.search("what does an SRE do")[0].section.name == "IT Site Reliability Engineer"
    assert index.search("what does an sre do")[0].section.name == "IT Site Reliability Engineer"
    assert index.search("who is the VP")[0].section.name == "Vice President, Operations"
    from bot.engine.index import heading_initialisms

    found = heading_initialisms(index.sections)
    assert found["site reliability engineer"] == "sre"
    assert "it site reliability engineer" not in found  # IT, in capitals, breaks the name
    assert "po" not in found.values()  # nor does 'President, Operations' make one
    (root / "sre.md").unlink()
    index = build_index(load_library(root))
    for question in ("what does an SRE do", "what does an sre do"):
        assert index.search(question)[0].section.name == "System Administrator"


def test_shipped_synonyms_cover_the_words_docs_use_for_their_parts(make_content):
    """People ask for 'steps', 'common mistakes', 'an urgent fix' or 'limits' where docs say
    stages, anti-patterns, hotfix and limitations (bot/synonyms.yml)."""
    root = make_content({
        "release.md": "# Releasing\n\nHow we ship.\n\n"
        "## What is a Hotfix?\n\nA change made straight on the release branch.\n\n"
        "## Key Stages of Managing a Hotfix\n\nTriage, branch, review, deploy.\n\n"
        "## Anti-patterns\n\nLong-lived branches and Friday deploys.\n\n"
        "## Limitations\n\nOne release train a day.\n",
    })  # fmt: skip
    index = build_index(load_library(root))
    for question, section in [
        ("what are the steps for managing a hotfix", "Key Stages of Managing a Hotfix"),
        ("common mistakes when releasing", "Anti-patterns"),
        ("what is an urgent fix", "What is a Hotfix?"),
        ("release limits", "Limitations"),
    ]:
        assert index.answer(question).best.section.name == section, question


def test_sentences_end_at_stops_and_line_ends_not_inside_numbers():
    """A section's text splits into sentences at . ! ? : ; before a space and at line ends
    (list items are sentences), not at the dot of "1.2"; words as words_of gives them."""
    from bot.engine.words import sentences_of

    text = "Hello there. A list:\n- item one\n- item two; and more! Version 1.2 is out."
    text += " It\u2019s ok?"
    assert sentences_of(text) == [
        ["hello", "there"], ["a", "list"], ["item", "one"], ["item", "two"], ["and", "more"],
        ["version", "1", "2", "is", "out"], ["its", "ok"],
    ]  # fmt: skip
    assert sentences_of("") == [] and sentences_of("...\n\n") == []


def test_a_long_question_goes_to_the_section_with_a_sentence_that_says_it(make_content):
    """A question of many words describes a case: the section with one sentence that says
    it beats a shorter one that says each word in a sentence of its own."""
    root = make_content({
        "vendors.md": "# Vendors\n\nWorking with vendors.\n\n"
        "## Paperwork\n\nA vendor wants paperwork. Signing takes time.\n"
        "An agreement comes before the call. Sharing is slow.\nPricing details change.\n\n"
        "## Counsel\n\nIf a vendor wants an agreement signed before sharing pricing details,"
        " send it to counsel.\nCounsel answers within a week. Counsel reads every page of"
        " every contract we get and\nkeeps notes on the terms that matter to the team and to"
        " the partner agency.\n",
    })  # fmt: skip
    index = build_index(load_library(root))
    question = "vendor wants me signing their agreement before sharing pricing details"
    assert len(index.concepts(question)[0]) >= 5
    assert index.search(question)[0].section.name == "Counsel"
    # A short question is not read sentence by sentence: each word counts alone.
    assert index.search("vendor agreement pricing")[0].section.name == "Paperwork"


def test_front_matter_describing_a_document_is_context_for_it(make_content):
    """A document's description and keywords say what it is about: a question in their words
    finds the document's top section."""
    root = make_content({
        "a.md": "---\ntitle: Handbook A\ndescription: Travel and expenses\n---\n# Handbook A\n\n"
        "Read this first.\n\n## Forms\n\nFill them in.\n",
        "b.md": "---\ntitle: Handbook B\nkeywords: onboarding, laptops\n---\n# Handbook B\n\n"
        "Read this first.\n\n## Forms\n\nFill them in.\n",
    })  # fmt: skip
    index = build_index(load_library(root))
    assert index.answer("travel expenses").best.section.document == "Handbook A"
    assert index.answer("laptops").best.section.document == "Handbook B"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "not a calibration"),
        ({"features": ["score"], "weights": [1], "bias": 0, "answer_at": 0.9, "hedge_at": 0.4},
         "made for features"),
        ({"features": ["score", "lead", "exact", "known", "corrected", "sections", "related"],
          "weights": [1] * 7, "bias": 0, "answer_at": 0.3, "hedge_at": 0.4}, "out of 0-1"),
    ],
)  # fmt: skip
def test_a_broken_calibration_is_named(data, problem):
    """A calibration file that is not one, or was made for other features, is refused with a
    message naming the file and what is wrong (the CLI turns it into exit code 2)."""
    from bot.engine.decision import Calibration, CalibrationError

    with pytest.raises(CalibrationError, match=problem) as err:
        Calibration.from_json(data, "x/calibration.json")
    assert "x/calibration.json" in str(err.value)


def test_counting_words_a_chunk_of_sections_at_a_time_builds_the_same_index(monkeypatch):
    """The build counts the sections' words a chunk at a time (to bound its peak memory); the
    postings, weights and answers are those of counting them all at once."""
    import bot.engine.index as index_module
    from tests.conftest import KNOWLEDGEHUB, assert_indexes_equal

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(KNOWLEDGEHUB)
    monkeypatch.setattr(index_module, "CHUNK", 10**9)
    whole = build_index(library)
    monkeypatch.setattr(index_module, "CHUNK", 7)
    chunked = build_index(library)
    assert_indexes_equal(chunked, whole, ordered=False)  # terms met in another order
    questions = [f"what is {s.name}" for s in library.sections[::3]]
    assert [chunked.answer(q) for q in questions] == [whole.answer(q) for q in questions]


def test_an_index_updated_after_edits_is_the_one_a_fresh_build_gives(tmp_path, monkeypatch):
    """A reload updates the index it replaces: the unchanged files' postings, words, keys and
    abbreviations are kept, the changed files' sections read. After each edit (sections
    added mid-file with a new abbreviation and new words, a file removed, a file added, the
    synonyms changed, a file emptied of its only new word) it is, term for term, the index a
    fresh build gives, and answers as that one does (its postings renumbered a slice of
    POSTINGS_STEP at a time: small here, so that there are many)."""
    import shutil

    import bot.engine.index as index_module
    from tests.conftest import KNOWLEDGEHUB, assert_indexes_equal

    monkeypatch.setattr(index_module, "POSTINGS_STEP", 997)

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    root = tmp_path / "hub"
    shutil.copytree(KNOWLEDGEHUB, root)
    files = sorted(root.rglob("*.md"))
    middle = next(f for f in files[15:] if "\n## " in f.read_text(encoding="utf-8"))
    gone, kept = files[40], files[0]
    library = load_library(root)
    index = build_index(library)
    text = middle.read_text(encoding="utf-8")

    def edits():
        middle.write_text(
            text.replace(
                "\n## ",
                "\n## Quorvex Zentrals (QZ)\n\nThe quorvex zentrals (QZ) glimmer nightly.\n\n"
                "## Glimmer Rota\n\nWho watches them.\n\n## ",
                1,
            ),
            encoding="utf-8",
        )
        yield "two sections added mid-file"
        assert index.search("quorvex zentrals")[0].section.name == "Quorvex Zentrals (QZ)"
        gone.unlink()
        yield "a file removed"
        (root / "new.md").write_text("# Plimsoll Lines\n\nPlimsoll lines glimmer.\n")
        yield "a file added"
        (root / "synonyms.yml").write_text("plimsoll lines: [load marks]\n")
        yield "the synonyms changed"
        middle.write_text(text, encoding="utf-8")
        yield "the new words removed"

    questions = ["what are quorvex zentrals", "who owns the QZ", "what are load marks"]
    questions += ["what glimmers", *(f"what is {s.name}" for s in library.sections[::9])]
    for step in edits():
        library = load_library(root, previous=library)
        previous, index = index, build_index(library, previous=index)
        rel = kept.relative_to(root).as_posix()
        assert index._by_doc[rel] is previous._by_doc[rel], step  # updated, not built
        fresh = build_index(library)
        assert_indexes_equal(index, fresh, ordered=False)
        assert [index.answer(q) for q in questions] == [fresh.answer(q) for q in questions], step
    assert "quorvex" not in index.words and "quorvex" not in index.postings


def test_an_index_is_built_afresh_when_the_kept_sections_change_order(make_content):
    """The update keeps the unchanged sections' postings in their order: where the library
    lists them in another (its documents reordered), the index is built afresh, the same."""
    from dataclasses import replace

    from tests.conftest import assert_indexes_equal

    root = make_content({f"p{k}.md": f"# Page {k}\n\nWords of page {k}.\n" for k in range(4)})
    library = load_library(root)
    index = build_index(library)
    reordered = replace(library, documents=library.documents[::-1])
    rebuilt = build_index(reordered, previous=index)
    assert all(rebuilt._by_doc[d.path] is not index._by_doc[d.path] for d in library.documents)
    assert_indexes_equal(rebuilt, build_index(reordered), ordered=False)
    assert rebuilt.search("words of page 3")[0].section.name == "Page 3"


def test_strengths_remembered_answer_as_those_computed(monkeypatch):
    """An index remembers the strengths of the terms questions ask for, starting over past
    STRENGTH_CACHE postings: with a cache that starts over all the time, answers are those
    of one that never does, and it holds no more than it may."""
    import bot.engine.index as index_module
    from tests.conftest import KNOWLEDGEHUB

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(KNOWLEDGEHUB)
    questions = [f"how do I {s.name}" for s in library.sections[::5]] * 2
    roomy = build_index(library)
    expected = [roomy.answer(q) for q in questions]
    assert roomy.strength_cache
    monkeypatch.setattr(index_module, "STRENGTH_CACHE", 40)
    tight = build_index(library)
    longest = max(len(tight.postings[t][0]) for t in tight.postings)
    for q, want in zip(questions, expected, strict=True):
        assert tight.answer(q) == want
        assert tight.strengths_held <= 40 or len(tight.strength_cache) == 1
    assert longest > 40


def test_phrase_keys_made_when_asked_give_the_answers_whatever_the_cache_holds(monkeypatch):
    """A section's phrase keys are made when a question first re-ranks it and kept for
    KEYS_CACHE sections: with room for one section's only (the cache starting over at
    every other section), every question gets the answer a roomy cache gives, and the
    cache never holds more than its bound."""
    import bot.engine.index as index_module
    from tests.conftest import KNOWLEDGEHUB

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(KNOWLEDGEHUB)
    questions = [f"what is {s.name}" for s in library.sections[::5]]
    questions += ["how do I deploy", "who reviews a pull request", "what is a release train"]
    roomy = build_index(library)
    expected = [roomy.answer(q) for q in questions]
    assert len(roomy.key_cache) > 1
    monkeypatch.setattr(index_module, "KEYS_CACHE", 1)
    tight = build_index(library)
    assert [tight.answer(q) for q in questions] == expected
    assert len(tight.key_cache) <= 1


def test_a_build_counted_in_two_processes_is_the_build_counted_in_one(monkeypatch, forks):
    """Past COUNT_APART_SECTIONS a build counts its last sections' words in a forked child
    and merges them under its own term ids: the index is the one a build in one process
    makes (every section's postings, words, lengths and all that follows), and so is the
    build whose child fails or cannot start (it counts them itself)."""
    import bot.engine.index as index_module
    from tests.conftest import KNOWLEDGEHUB, assert_indexes_equal

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(KNOWLEDGEHUB)
    alone = build_index(library)
    monkeypatch.setattr(index_module, "COUNT_APART_SECTIONS", 1)
    monkeypatch.setattr(index_module, "CHUNK", 100)  # this process counts 200 sections of 442
    apart = build_index(library)
    assert len(forks) == 1 and len(library.sections) == 442
    assert_indexes_equal(apart, alone, ordered=False)


def test_postings_repeats_are_merged_into_the_first_of_their_run():
    """A posting repeated right after itself (a word in a section's text and its heading, and
    its context) is one posting: the frequencies added, the strongest heading code kept, the
    terms' bounds moved back; runs of two and three, at the start, middle and end."""
    import numpy as np

    from bot.engine.index import Tables

    # term 0: rows 1, 1, 2; term 1: rows 0, 0, 0, 3; term 2: rows 5, 5
    rows = np.array([1, 1, 2, 0, 0, 0, 3, 5, 5], dtype=np.int32)
    tf = np.array([2, 0, 1, 4, 0, 0, 1, 3, 0], dtype=np.uint16)
    named = np.array([0, 2, 0, 0, 1, 2, 0, 0, 1], dtype=np.uint8)
    bounds = np.array([0, 3, 7, 9])
    repeats = np.array([1, 4, 5, 8])
    got = Tables._merged(repeats, bounds, rows, tf, named)
    assert [a.tolist() for a in got] == [
        [0, 2, 4, 5],  # bounds
        [1, 2, 0, 3, 5],  # rows
        [2, 1, 4, 1, 3],  # frequencies
        [2, 0, 2, 0, 1],  # heading codes
    ]

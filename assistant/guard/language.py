"""The language the framing rules are written in: sentence normalisation, how sprint talk names
speed, agents and actions, and the markers of negation, reporting, perception and endorsement.

None of it is an article's: it is how English claims (and disclaims) that something causes speed.
The doctrine's subject ("coordination") is not here; `rules.py` compiles it in from the corpus's
doctrine.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- text
# Normalisation happens once per sentence; every pattern below assumes lowercase,
# straight quotes, expanded contractions and " — " for any dash used as a break.

_QUOTE_MAP = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u2013": " \u2014 ", "\u2014": " \u2014 ", "\u2015": " \u2014 ",
        "\u2026": "...",
    }
)

# One pass for all contractions. 's is only expanded after pronouns: "athlete's
# label" is a possessive.
_CONTRACTION_RX = re.compile(
    r"\b(?:(can|won|shan|ai)'t|cannot)\b|n't\b|'(ll|re|ve|m)\b"
    r"|\b(i|you|we|they|he|she|it|that)'d\b"
    r"|\b(it|that|what|he|she|there|here|who|this|where|how|why|everything|nothing|something|let)'s\b"
)
_IRREGULAR_NOT = {"can": "can not", "won": "will not", "shan": "shall not", "ai": "is not"}
_SUFFIX = {"ll": " will", "re": " are", "ve": " have", "m": " am"}


def _expand(m: re.Match[str]) -> str:
    text = m.group(0)
    if text == "cannot":
        return "can not"
    if m.group(1):
        return _IRREGULAR_NOT[m.group(1)]
    if m.group(2):
        return _SUFFIX[m.group(2)]
    if m.group(3):
        return f"{m.group(3)} would"
    if m.group(4):
        return "let us" if m.group(4) == "let" else f"{m.group(4)} is"
    return " not"  # n't


_MARKDOWN = re.compile(r"[*_`#>]+")
_SPACED_HYPHEN = re.compile(r"\s+-{1,2}\s+|--")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    t = text.translate(_QUOTE_MAP).lower()
    t = _MARKDOWN.sub(" ", t)  # markdown emphasis / headings / quotes
    if "-" in t:
        t = _SPACED_HYPHEN.sub(" \u2014 ", t)  # spaced hyphen = dash
    if "'" in t or "cannot" in t:
        t = _CONTRACTION_RX.sub(_expand, t)
    return _SPACES.sub(" ", t).strip()


# Speed / sprint-performance mentions. Times ("10.5", "your times") and race
# outcomes ("pulls away", "outruns") count: they are speed claims in sprint talk.
_S = (
    r"(?:speed\w*|velocit\w+|fast(?:er|est)?|quick(?:er|est|ness)?"
    r"|slow(?:er|est|ness|s|ed|ing)?|pace|accelerat\w+|top[- ]end"
    r"|(?:sprint|race|running)\s+(?:performance|times?|results?)|performance"
    r"|(?:your|their|his|her|my|our|race|sprint|personal|\d+\s?m)\s+(?:times?|bests?|pbs?|prs?)|tenths|hundredths"
    r"|personal\s+bests?|pbs?|prs?|\d{1,2}\.\d{1,2}(?:\s?s(?:ec(?:ond)?s?)?)?"
    r"|pull(?:s|ed|ing)?\s+away|outr[au]n\w*|outsprint\w*|win(?:s|ning)?\s+(?:races?|the\s+race)"
    r"|times\s+(?:drop|fall|come\s+down|improve)|(?:time|seconds|tenths|hundredths)\s+off)"
)
# Only degree words may sit between "the fastest sprinters are" and "coordinated"
# ("speed is often confused with coordination" must not read as an identity).
_DEGREE = (
    r"(?:simply|just|usually|always|generally|typically|also|often|really|basically|all|the|a|an"
    r"|much|far|way|clearly|more|most|better|best|well|highly|very|superior|great|greater|good"
    r"|excellent|incredibly|so|extremely|exceptionally|naturally|invariably|almost|their|his|her|your)"
)
_AGENT_WORDS = (
    "sprinter sprinters athlete athletes runner runners ones people guys women men players kids"
    " mover movers bodies sprinting running movement stride strides step steps sprint sprints"
    " technique mechanics form motion"
)
_AGENT = (
    r"(?:sprinters?|athletes?|runners?|ones|people|guys|women|men|players|kids|movers?|bodies"
    r"|sprinting|running|movement|strides?|steps?|sprints?|technique|mechanics|form|motion)"
)

_SEP = r"[\s,\"'()\[\]]+"  # stays inside a clause: no ; : — . ! ?
_WORD = r"[\w'./%-]+"
_CLAUSE_BLOCK = (
    r"when|whenever|while|if|because|since|which|who|whom|where|after|before|until"
    r"|once|whereas|although|though|but|unless|yet|however"
)
_PERC_BLOCK = (
    r"feel\w*|felt|look\w*|seem\w*|appear\w*|call\w*|describ\w*|label\w*"
    r"|experienc\w*|notic\w*|sense|senses|sensed|sensation\w*|perceiv\w*|name|names|named|word|words"
)


def _gap(n: int, *blocks: str) -> str:
    """0..n words inside one clause, refusing the given blocker words."""
    block = "|".join(blocks)
    word = rf"(?!(?:{block})\b){_WORD}" if block else _WORD
    return rf"(?:{_SEP}{word}){{0,{n}}}?{_SEP}"


# "athletes mention coordination and AQ explains why ...": a new subject ends C's reach.
_NEW_SUBJECT = r"and\s+(?:aq|we|i|you|they|he|she|athletes?|coaches?|sprinters?|people)"
_G_CV = _gap(8, _CLAUSE_BLOCK, _PERC_BLOCK, _NEW_SUBJECT)  # coordination -> relation cue
_G_VS = _gap(6, _CLAUSE_BLOCK, _PERC_BLOCK,
             r"different|distinct|separate|independent|unrelated|regardless|alongside|along|together|parallel|tandem")
_G3 = _gap(3, _CLAUSE_BLOCK, _PERC_BLOCK, r"than|different|distinct|separate|unlike|independent")
_G5 = _gap(5, _CLAUSE_BLOCK, _PERC_BLOCK)

# Verbs / phrases whose subject is the cause and whose object is the effect.
_FWD_VERB = (
    r"(?:caus(?:e|es|ed|ing)|driv(?:e|es|en|ing)|drove|determin(?:e|es|ed|ing)"
    r"|dictat(?:e|es|ed|ing)|govern(?:s|ed|ing)?|control(?:s|led|ling)?"
    r"|produc(?:e|es|ed|ing)|creat(?:e|es|ed|ing)|generat(?:e|es|ed|ing)"
    r"|explain(?:s|ed|ing)?|underl(?:ie|ies|ay|ying)|underpin(?:s|ned|ning)?"
    r"|lead(?:s|ing)?\s+to|led\s+to|result(?:s|ed|ing)?\s+in|translat(?:e|es|ed|ing)\s+(?:in)?to"
    r"|power(?:s|ed|ing)?|fuel(?:s|led|ed|ling|ing)?|unlock(?:s|ed|ing)?|boost(?:s|ed|ing)?"
    # "coordination improves WITH speed" is the reverse direction, not a cause
    r"|(?:increas(?:e|es|ed|ing)|improv(?:e|es|ed|ing)|ris(?:e|es|ing)|grow(?:s|ing)?)(?!\s+(?:with|as|alongside|along|together|when|in\s+step))"
    r"|enhanc(?:e|es|ed|ing)|rais(?:e|es|ed|ing)"
    r"|maximi[sz](?:e|es|ed|ing)|give(?:s|n)?|gave|giving|mak(?:e|es|ing)|made"
    r"|account(?:s|ed|ing)?\s+for|separat(?:e|es|ed|ing)|distinguish(?:es|ed|ing)?"
    r"|set(?:s|ting)?\s+apart|limit(?:s|ed|ing)?|cost(?:s|ing)?|contribut(?:e|es|ed|ing)\s+to"
    r"|influenc(?:e|es|ed|ing)|affect(?:s|ed|ing)?|impact(?:s|ed|ing)?|shap(?:e|es|ed|ing)"
    r"|matter(?:s|ed)?|help(?:s|ed|ing)?|allow(?:s|ed|ing)?|enabl(?:e|es|ed|ing)|lets?"
    r"|gets?|takes?|turn(?:s|ed|ing)?\s+(?:\w+\s+){0,2}?into|convert(?:s|ed|ing)?|means?|equals?|=|->|\u2192|predict(?:s|ed)?"
    r"|decid(?:e|es|ed|ing)|play(?:s|ed|ing)?\s+(?:a|an|the)\s+(?:\w+\s+)?(?:role|part)"
    r"|hold(?:s|ing)?\s+the\s+(?:key|secret)|sets?|setting|defin(?:e|es|ed|ing)|caps?|capped"
    r"|shav(?:e|es|ed|ing)|knock(?:s|ed|ing)?|cuts?|cutting|trim(?:s|med|ming)?|lower(?:s|ed|ing)?|reduc(?:e|es|ed|ing)"
    r"|so|therefore|hence|thus)"
)
_COPULA = r"(?:is|are|was|were|be|being|becomes?|remains?|as|=)"
# Predicate nouns: "coordination is the key / reason / foundation ... (of) speed".
_PRED_NOUN = (
    r"(?:key|secret|reasons?|causes?|source|driver|engine|foundation|basis|root|mechanism"
    r"|explanation|answer|difference|factor|ingredient|determinant|predictor|x-factor|link"
    r"|piece|recipe|route|path|way|road|ticket|shortcut|gateway|origin|heart|core|essence"
    r"|backbone|cornerstone|catalyst|trigger|lever|limiter|bottleneck|culprit|precondition"
    r"|prerequisite|requirement|essential|crucial|vital|necessary|critical|fundamental"
    r"|central|important|responsible|behind|advantage|why|edge|component|contributor)"
)
_FWD_CUE = rf"(?:{_FWD_VERB}|{_COPULA}(?:{_SEP}{_WORD}){{0,4}}?{_SEP}{_PRED_NOUN})"

# Phrases whose subject is the effect (speed) and whose object is the cause.
_REV_CUE = (
    r"(?:(?:com(?:e|es|ing)|came)\s+(?:\w+\s+)?from|com(?:e|es|ing)\s+down\s+to"
    r"|boil(?:s|ed)?\s+down\s+to|(?:is|are)\s+(?:all\s+)?down\s+to|all\s+about"
    r"|(?:caused|driven|determined|dictated|governed|controlled|produced|created|generated"
    r"|explained|limited|powered|fuell?ed|unlocked|shaped|held\s+back)\s+by"
    r"|built\s+on|rooted\s+in|grounded\s+in|based\s+on|depend(?:s|ed|ing|ent)?\s+on"
    r"|rel(?:y|ies|ied|iant)\s+on|hing(?:e|es|ed)\s+on|rests?\s+on|stem(?:s|med)?\s+from"
    r"|result(?:s|ed|ing)?\s+from|flow(?:s|ed)?\s+from|springs?\s+from|deriv(?:e|es|ed)\s+from"
    r"|(?:product|result|function|consequence|by-?product|outcome|expression|reflection|matter|question)\s+of"
    r"|starts?\s+with|begins?\s+with|requir(?:e|es|ed)|needs?|demand(?:s|ed)?|impossible\s+without"
    r"|lies\s+in|(?:locked|tied|trapped|hidden|bound)\s+(?:up\s+)?in|follow(?:s|ed|ing)?|(?:owe[sd]?|attribut\w+|credit\w*)\s+(?:\w+\s+){0,3}?to"
    r"|by|through|via"
    # bare "with" only as "faster with better coordination", not "confused with"
    r"|with(?=\s+(?:\w+\s+){0,2}?(?:better|good|great|more|improved|superior|excellent|proper|sharper|cleaner|high|higher)\b))"
)

_ACTION = (
    r"(?:improve|improving|work\s+on|working\s+on|train|training|develop|developing"
    r"|focus\s+on|focusing\s+on|build|building|sharpen|fix|practi[cs]e|clean\s+up|master"
    r"|become|becoming|be|being|get|getting|chase|chasing|prioriti[sz]e|invest\s+in|add"
    r"|adding|do|doing|need|needs|boost|enhance|refine|drill|emphasi[sz]e)"
)
# Where an imperative / recommended action may start.
_ACTION_START = (
    r"(?:^|[,:;\u2014]\s*|\b(?:to|just|simply|should|must|need\s+to|have\s+to|try\s+to|and"
    r"|then|first|please|so|is\s+to|are\s+to|instead\s+of|rather\s+than|of|you|we|they|athletes?|sprinters?)\s+)"
)
_ACTION_START_WORDS = (
    "^ , : ; \u2014 to just simply should must need have try and then first please so is are"
    " instead rather of you we they athlete athletes sprinter sprinters"
)
_IMPROVE_INTRANS = (
    r"(?:improv\w*|gets?\s+better|gets?\s+sharper|gets?\s+cleaner|click\w*|comes?\s+together"
    r"|develop\w*|increas\w*|is\s+there|is\s+better|is\s+good|is\s+right|is\s+sorted|goes\s+up"
    r"|rises|sharpens)"
)

# ------------------------------------------------------------ scope markers
# Phrases that look negative but do not negate the claim ("not just a feeling").
_NOT_NEG = re.compile(
    r"\b(?:not\s+(?:just|only|merely|simply)|no\s+(?:doubt|wonder|secret|question|matter)"
    r"|nothing\s+(?:but|more\s+than)|without\s+(?:a\s+)?(?:doubt|question)"
    r"|not\s+surprising(?:ly)?|(?:never|not)\s+forget|can\s+not\s+(?:stress|overstate)"
    r"|not\s+least|no\s+longer\s+just)\b"
)
# Short corrective asides that do not touch the claim: "coordination, not strength, drives speed".
_ASIDE = re.compile(r"(?:,|\u2014)\s*(?:and\s+)?(?:not|rather\s+than|instead\s+of)\s+(?:[\w'-]+\s+){0,3}?[\w'-]+\s*(?:,|\u2014)")
_NEG = re.compile(
    r"\b(?:not|never|no|nobody|nothing|none|neither|nor|no\s+longer|rather\s+than|instead\s+of"
    r"|hardly|disagree\w*|reject\w*|den(?:y|ies|ied)|dispute\w*|doubt\w*|challeng\w*|myth"
    r"|misconception|misleading|mistaken|wrong|false|untrue|overrat\w*|oversimplif\w*"
    r"|fail(?:s|ed)?\s+to|stop\s+(?:thinking|believing|saying)|avoid\s+(?:thinking|saying)"
    r"|unrelated|independent\s+of|distinct\s+from|separate\s+from)\b"
)
# Someone other than AQ/us holds the view ("many athletes believe", "the idea that").
_DIST_NOMINAL = re.compile(
    r"\b(?:(?:common|popular|widespread|old|traditional|conventional|usual)\s+(?:\w+\s+){0,2}?"
    r"(?:belief|view|idea|notion|wisdom|thinking|assumption|story|line|claim|explanation|advice|saying|take|narrative|myth)"
    r"|belief\s+that|myth|misconception|the\s+(?:idea|notion|claim|assumption|view|theory|story"
    r"|argument|suggestion|statement|sentence|phrase|line|belief)\s+that|so-called|supposedly|allegedly"
    r"|tempting\s+to\s+(?:believe|think|say|assume)|traditional\w*|conventional\w*|old-school"
    r"|you\s+(?:might|may|will|probably|often)\s+(?:have\s+)?(?:hear\w*|been\s+told|read)"
    r"|you\s+have\s+(?:probably\s+)?(?:heard|been\s+told|read)"
    r"|(?:is|are|was|were)\s+(?:often|commonly|widely|usually|sometimes|frequently|typically)\s+"
    r"(?:said|assumed|believed|thought|claimed|taught|described|treated|seen|viewed|presented)"
    r"|gr[eo]w\s+up\s+(?:believing|thinking|hearing)|asked\s+me\s+to|want(?:s|ed)?\s+me\s+to"
    r"|told\s+me\s+to|wants?\s+you\s+to\s+believe|would\s+have\s+you\s+believe"
    r"|(?:love|like)s?\s+to\s+(?:say|claim|think)|according\s+to\s+(?!aq\b))"
)
_DIST_VERB = re.compile(
    r"\b(?:people|athletes?|coaches?|sprinters?|runners?|many|most|some|others|they|you|everyone"
    r"|someone|somebody|folks|fans|commentators|experts|textbooks|trainers|parents|he|she|who"
    r"|thinking|wisdom|training|coaching|user|users|question)\b(?:\s+\w+){0,3}?\s+"
    r"(?:believ\w*|think\w*|thought|assum\w*|claim\w*|say|says|said|saying|tell|tells|told"
    r"|teach\w*|taught|insist\w*|argu\w*|hear|heard|expect\w*|suggest\w*|preach\w*|swear"
    r"|ask|asks|asked|asking|wonder\w*)\b"
)
# Distancing that follows the claim: "... — that's a myth", "... or so people say".
_DIST_AFTER = re.compile(
    r"\b(?:myth|misconception|wrong|false|untrue|mistaken|outdated|oversimplif\w*|nonsense"
    r"|misleading|incorrect|not\s+(?:true|correct|right|accurate|the\s+case|how\s+aq)"
    r"|or\s+so\s+(?:\w+\s+){0,3}?(?:say|says|think|thinks|believe|believes|claim|claims)"
    r"|according\s+to\s+(?!aq\b)|is\s+what\s+(?:many|some|most|people|coaches|athletes)\b)"
)
# Endorsement of a reported view: "..., and they're right."
_AFFIRM = re.compile(
    r"\b(?:they|he|she|you|that|this|it|which|those\s+\w+|the\s+\w+)\s+(?:are|is|were|was)\s+"
    r"(?:(?:absolutely|completely|quite|totally|entirely|exactly|dead|so|100%)\s+)?"
    r"(?:right|correct|true|spot\s+on|accurate)\b|\brightly\b|\bcorrectly\b|\bagree\b"
)
_AFFIRM_SENTENCE = re.compile(
    r"^(?:and\s+|but\s+)?(?:(?:they|he|she|you|that|this|it|those\s+\w+|the\s+\w+)\s+(?:are|is|were|was)\s+"
    r"(?:(?:absolutely|completely|quite|totally|entirely|exactly|dead|so|100%)\s+)?(?:right|correct|true|spot\s+on|accurate)"
    r"|(?:exactly|true|correct|absolutely|indeed|spot\s+on)\b|(?:aq|we|i)\s+(?:\w+\s+)?agrees?)"
)
# Asking about the relation is not asserting it ("AQ asks what athletes mean by coordination").
_INQUIRY = re.compile(
    r"\b(?:ask|asks|asked|asking|question\w*|wonder\w*|whether)\b"
    # a named common cause: "... because both reflect the same relationships"
    r"|\bboth\b[^.;]{0,40}?\b(?:reflect\w*|come\s+from|result\s+from|stem\s+from|follow\s+from|depend\s+on)"
)
_SARCASM = re.compile(r"^(?:yeah,?\s+right|as\s+if|oh\s+sure|sure,?\s+because|right,?\s+because|because\s+obviously)\b")

# Perception around a coordination mention makes it the FEEL, not a cause.
_PERC_BEFORE = re.compile(
    r"\b(?:feel|feels|felt|feeling|look|looks|looked|looking|appear\w*|seem\w*|call|calls|called"
    r"|calling|label\w*|describ\w*|experienc\w*|perceiv\w*|notic\w*|sense\s+of|sensation\s+of"
    r"|so-called|summari[sz]\w*)\b(?:\s+[\w'-]+){0,3}?\s+$"
)
_PERC_AFTER = re.compile(r"^\w*(?:\s+\w+)?\s+(?:feel|feels|felt|feeling|sensation|label|experience)\b")
_S_PERC_BEFORE = re.compile(r"\b(?:feel|feels|felt|feeling|look|looks|looked|seem\w*|appear\w*)\b(?:\s+[\w'-]+)?\s+$")
_S_HOW_FEELS = re.compile(r"^[\w\s,'-]{0,40}?\b(?:feel|feels|felt|looks|seems|appears)\b")

_HARD_BREAK = re.compile(r"[;:\u2014()]")
_SOFT_BREAK = re.compile(r"\b(?:but|however|yet|although|though|whereas|while)\b")

_FELT_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("felt-label", re.compile(r"\b(?:label\w*|name|word|term|description|describ\w*|summari[sz]\w*|call(?:s|ed|ing)?|mention\w*)\b")),
    ("felt-feeling", re.compile(r"\b(?:feel|feels|felt|feeling|feelings|sensation\w*|experienc\w*|notic\w*|sense|perceiv\w*)\b")),
    ("felt-appearance", re.compile(r"\b(?:look|looks|looked|looking|appear\w*|seem\w*)\b")),
)

_TOKEN = re.compile(r"[\w][\w'-]*|[,;:\u2014]")
_S_RX = re.compile(rf"\b{_S}\b")
# Questions that ask how to get / why someone is fast, answered by the next sentence.
_SPEED_QUESTION = re.compile(r"\b(?:why|how|what|want|wanna|need|looking\s+to|wish)\b")

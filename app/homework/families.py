"""The exercise families of the practice's approach, and who may ever read each one."""
from __future__ import annotations

from dataclasses import dataclass

from wtforms import SelectChoice

from app.models import SHARING_AUTHOR_CHOICE, SHARING_NEVER, SHARING_THERAPIST_DEFAULT


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    idea: str
    sharing: str


FAMILIES: dict[str, Family] = {f.key: f for f in [
    Family("change_dynamic", "Change your own dynamic",
           "Practise yourself the behaviour you wish she showed.", SHARING_AUTHOR_CHOICE),
    Family("stay_present", "Stay present",
           "Catch a moment of closeness without conflict.", SHARING_AUTHOR_CHOICE),
    Family("choose_battles", "Choose your battles",
           "A recurring argument you chose not to have, or to end.", SHARING_AUTHOR_CHOICE),
    Family("agree_to_disagree", "Agree to disagree",
           "Name a topic you two will stop fighting over.", SHARING_AUTHOR_CHOICE),
    Family("idealisation", "Letting go of idealisation",
           "The expectations you hold of her, and which are realistic.", SHARING_AUTHOR_CHOICE),
    Family("growing_up", "Growing up, letting go",
           "The changing roles as a daughter grows into her own life.", SHARING_AUTHOR_CHOICE),
    Family("forgiveness_letter", "Forgiveness letter (unsent)",
           "A letter you do not send, written for yourself.", SHARING_THERAPIST_DEFAULT),
    Family("safety", "Safety and boundaries",
           "When contact harms you: what harmed you and what protects you.", SHARING_NEVER),
]}

SHARING_LABELS = {
    SHARING_AUTHOR_CHOICE: "Private unless you choose to share it with the other member of your pair",
    SHARING_THERAPIST_DEFAULT: "Only your therapist reads this unless you decide otherwise",
    SHARING_NEVER: "Only your therapist ever reads this",
}


def family_name(key: str) -> str:
    family = FAMILIES.get(key)
    return family.name if family else key.replace("_", " ").capitalize()


def sharing_for(key: str) -> str:
    """The sharing rule a family imposes; unknown families are treated as the strictest."""
    family = FAMILIES.get(key)
    return family.sharing if family else SHARING_NEVER


def family_choices() -> list[SelectChoice]:
    return [SelectChoice(f.key, f.name) for f in FAMILIES.values()]

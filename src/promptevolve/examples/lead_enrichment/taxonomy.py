"""The fixed vocabulary of the lead-enrichment task, shared by the baseline prompts, the dataset and the
task's evaluator (``evaluator.LeadEnrichment``, whose schema and grader check answers against it).

A closed list is what makes the enrichment judgeable: an answer outside it is wrong, not "close". The
baseline prompts quote these lists verbatim, so changing one means registering new prompt versions, not
editing the old ones.
"""

from __future__ import annotations

__all__ = ["AI_MATURITY_LEVELS", "GROWTH_SIGNALS", "INDUSTRIES", "SIZE_BANDS"]

INDUSTRIES: tuple[str, ...] = (
    "software",
    "fintech",
    "healthcare",
    "biotech_pharma",
    "ecommerce_retail",
    "manufacturing",
    "logistics",
    "energy",
    "education",
    "media_entertainment",
    "marketing_advertising",
    "real_estate",
    "professional_services",
    "telecom",
    "food_agriculture",
    "travel_hospitality",
    "public_sector_nonprofit",
    "cybersecurity",
    "automotive",
    "construction",
)

#: Employee-count bands, inclusive at both ends.
SIZE_BANDS: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")

GROWTH_SIGNALS: tuple[str, ...] = (
    "hiring",
    "funding_round",
    "new_product",
    "international_expansion",
    "partnership",
    "acquisition",
    "ai_adoption",
    "new_office",
    "revenue_growth",
    "leadership_hire",
)

#: What each AI-maturity level means; the prompts quote this scale.
AI_MATURITY_LEVELS: dict[int, str] = {
    1: "no visible use of data or AI",
    2: "uses off-the-shelf tools with AI features, no own initiative",
    3: "pilots or a first AI use case in production",
    4: "several AI use cases in production, a data/ML team",
    5: "AI is the core of the product or business model",
}

"""The phrase bank of the synthetic leads: each phrase states one fact, and each fact fixes one label.

``generate.py`` assembles descriptions from these phrases only, so a label is never guessed: the
industry comes from the activity phrase, the size band from the stated headcount, the growth signals
from the event clauses, the AI maturity from the practice sentence. The phrases follow the labelling
rules of ``DATASET.md`` (activity of the company itself, not its customers'; established AI use is
maturity evidence, a recent step is also ``ai_adoption``). ``tests/examples/test_leads_dataset.py``
re-derives every synthetic label from the description text with these tables and with independent
keyword rules.

An activity marked ``hard`` names a customer sector other than the company's own (the cue a careless
reader follows), as the hand-written hard leads do.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ABROAD",
    "ACTIVITIES",
    "ADOPTION",
    "COUNTRIES",
    "ESTABLISHED",
    "EVENTS",
    "Activity",
    "Country",
]


@dataclass(frozen=True, slots=True)
class Activity:
    """What the company sells or does (a verb phrase after its name), and whether it misleads."""

    industry: str
    text: str
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Country:
    name: str
    tld: str
    cities: tuple[str, ...]
    abroad: tuple[str, ...]  # foreign markets named in an expansion clause, in the locale's form


def _acts(industry: str, *texts: str, hard: tuple[int, ...] = ()) -> tuple[Activity, ...]:
    return tuple(Activity(industry, t, i in hard) for i, t in enumerate(texts))


ACTIVITIES: dict[str, tuple[Activity, ...]] = {
    "en": (
        *_acts(
            "software",
            "sells a scheduling SaaS to dental practices",
            "makes an expense-reporting app sold to finance teams",
            "builds a field-service management platform sold to plumbing firms",
            "sells inventory software to independent bookshops",
            hard=(0, 3),
        ),
        *_acts(
            "fintech",
            "runs a digital bank account for freelancers",
            "processes card payments for hair salons and barbers",
            "lends working capital to small manufacturers",
            "operates a money-transfer app for migrant workers",
            hard=(1, 2),
        ),
        *_acts(
            "healthcare",
            "runs a chain of physiotherapy clinics",
            "operates walk-in eye clinics",
            "provides home nursing care for elderly patients",
        ),
        *_acts(
            "biotech_pharma",
            "develops antibody treatments for rare blood disorders",
            "makes generic cardiovascular drugs",
            "develops vaccines against tick-borne diseases",
        ),
        *_acts(
            "ecommerce_retail",
            "runs an online shop for refurbished laptops",
            "operates a chain of garden centres",
            "sells children's clothing through its own web store",
        ),
        *_acts(
            "manufacturing",
            "makes industrial pumps",
            "produces corrugated cardboard packaging",
            "manufactures steel shelving for warehouses",
        ),
        *_acts(
            "logistics",
            "runs a fleet of refrigerated lorries",
            "operates parcel lockers and last-mile delivery vans",
            "stores and ships spare parts for car dealers",
            hard=(2,),
        ),
        *_acts(
            "energy",
            "installs rooftop solar panels",
            "operates onshore wind farms",
            "supplies heat pumps and maintains them",
        ),
        *_acts(
            "education",
            "runs private coding bootcamps for adults",
            "operates three secondary schools",
            "teaches English to hotel staff through evening courses",
            hard=(2,),
        ),
        *_acts(
            "media_entertainment",
            "produces true-crime podcasts",
            "develops mobile puzzle games",
            "publishes regional newspapers",
        ),
        *_acts(
            "marketing_advertising",
            "plans social-media campaigns for consumer brands",
            "runs a digital advertising agency for car dealerships",
            "buys billboard space for national retailers",
            hard=(1,),
        ),
        *_acts(
            "real_estate",
            "manages rental flats for private landlords",
            "develops and leases business parks",
            "runs a residential estate agency",
        ),
        *_acts(
            "professional_services",
            "provides payroll outsourcing and bookkeeping for small firms",
            "is a recruitment agency for nurses and care workers",
            "offers management consulting to regional banks",
            hard=(1, 2),
        ),
        *_acts(
            "telecom",
            "builds and runs fibre broadband networks in rural areas",
            "operates a mobile virtual network for students",
            "sells business phone lines and internet access",
        ),
        *_acts(
            "food_agriculture",
            "grows organic vegetables on its own farms",
            "runs a craft brewery",
            "produces cheese from the milk of local farms",
        ),
        *_acts(
            "travel_hospitality",
            "operates boutique hotels",
            "runs walking tours across Europe",
            "operates campsites and holiday cottages",
        ),
        *_acts(
            "public_sector_nonprofit",
            "is a city council",
            "is a charity that delivers humanitarian aid after floods",
            "is a government agency that registers businesses",
        ),
        *_acts(
            "cybersecurity",
            "sells phishing-detection software to hospitals",
            "runs a security operations centre for retailers",
            "performs penetration tests for banks",
            hard=(0, 2),
        ),
        *_acts(
            "automotive",
            "makes brake components for carmakers",
            "runs a network of car repair garages",
            "sells new and used cars from four dealerships",
        ),
        *_acts(
            "construction",
            "builds schools and hospitals for public clients",
            "renovates old houses",
            "installs steel frames for warehouses",
            hard=(0,),
        ),
    ),
    "fr": (
        *_acts(
            "software",
            "édite un logiciel de planification pour les cabinets dentaires",
            "vend une application de notes de frais aux directions financières",
            "édite une plateforme de gestion des interventions pour les plombiers",
            "vend un logiciel de gestion des stocks aux librairies indépendantes",
            hard=(0, 3),
        ),
        *_acts(
            "fintech",
            "propose un compte bancaire en ligne aux indépendants",
            "traite les paiements par carte des salons de coiffure",
            "prête des fonds de roulement aux petites usines",
            "exploite une application de transfert d'argent vers l'Afrique",
            hard=(1, 2),
        ),
        *_acts(
            "healthcare",
            "gère un réseau de cabinets de kinésithérapie",
            "exploite des centres d'ophtalmologie sans rendez-vous",
            "assure des soins infirmiers à domicile pour les personnes âgées",
        ),
        *_acts(
            "biotech_pharma",
            "développe des anticorps contre des maladies rares du sang",
            "fabrique des médicaments génériques pour le cœur",
            "développe des vaccins contre les maladies transmises par les tiques",
        ),
        *_acts(
            "ecommerce_retail",
            "vend des ordinateurs portables reconditionnés sur sa boutique en ligne",
            "exploite une chaîne de jardineries",
            "vend des vêtements pour enfants sur son propre site marchand",
        ),
        *_acts(
            "manufacturing",
            "fabrique des pompes industrielles",
            "produit des emballages en carton ondulé",
            "fabrique des rayonnages métalliques pour les entrepôts",
        ),
        *_acts(
            "logistics",
            "exploite une flotte de camions frigorifiques",
            "gère des consignes à colis et des camionnettes de livraison",
            "stocke et expédie des pièces détachées pour les concessionnaires automobiles",
            hard=(2,),
        ),
        *_acts(
            "energy",
            "installe des panneaux solaires sur les toitures",
            "exploite des parcs éoliens terrestres",
            "fournit des pompes à chaleur et en assure la maintenance",
        ),
        *_acts(
            "education",
            "organise des formations intensives au développement web pour adultes",
            "gère trois collèges privés",
            "enseigne l'anglais au personnel des hôtels en cours du soir",
            hard=(2,),
        ),
        *_acts(
            "media_entertainment",
            "produit des podcasts d'enquête",
            "développe des jeux de réflexion pour mobile",
            "publie des quotidiens régionaux",
        ),
        *_acts(
            "marketing_advertising",
            "conçoit des campagnes sur les réseaux sociaux pour des marques de grande consommation",
            "est une agence de publicité en ligne au service des concessionnaires automobiles",
            "achète des espaces d'affichage pour les grandes enseignes",
            hard=(1,),
        ),
        *_acts(
            "real_estate",
            "gère des appartements en location pour des propriétaires privés",
            "développe et loue des parcs d'activités",
            "est une agence immobilière résidentielle",
        ),
        *_acts(
            "professional_services",
            "gère la paie et la comptabilité des petites entreprises",
            "est un cabinet de recrutement d'infirmiers et d'aides-soignants",
            "conseille les banques régionales en organisation",
            hard=(1, 2),
        ),
        *_acts(
            "telecom",
            "construit et exploite des réseaux de fibre optique dans les zones rurales",
            "est un opérateur mobile virtuel pour les étudiants",
            "vend des lignes téléphoniques et des accès internet aux entreprises",
        ),
        *_acts(
            "food_agriculture",
            "cultive des légumes bio dans ses propres fermes",
            "est une brasserie artisanale",
            "fabrique des fromages avec le lait des fermes voisines",
        ),
        *_acts(
            "travel_hospitality",
            "exploite des hôtels de charme",
            "organise des randonnées guidées à travers l'Europe",
            "gère des campings et des gîtes",
        ),
        *_acts(
            "public_sector_nonprofit",
            "est une communauté de communes",
            "est une association qui distribue une aide humanitaire après les inondations",
            "est une agence publique chargée du registre des entreprises",
        ),
        *_acts(
            "cybersecurity",
            "vend un logiciel de détection du hameçonnage aux hôpitaux",
            "exploite un centre de supervision de la sécurité pour les enseignes de la distribution",
            "réalise des tests d'intrusion pour les banques",
            hard=(0, 2),
        ),
        *_acts(
            "automotive",
            "fabrique des composants de freinage pour les constructeurs automobiles",
            "exploite un réseau de garages de réparation automobile",
            "vend des voitures neuves et d'occasion dans quatre concessions",
        ),
        *_acts(
            "construction",
            "construit des écoles et des hôpitaux pour des clients publics",
            "rénove des maisons anciennes",
            "monte des charpentes métalliques pour les entrepôts",
            hard=(0,),
        ),
    ),
}

COUNTRIES: dict[str, tuple[Country, ...]] = {
    "en": (
        Country("United Kingdom", "co.uk", ("Leeds", "Bristol", "Glasgow", "Cardiff", "Norwich"), ()),
        Country("United States", "com", ("Denver", "Columbus", "Portland", "Raleigh", "Tucson"), ()),
        Country("Canada", "ca", ("Calgary", "Halifax", "Winnipeg", "Victoria"), ()),
        Country("Australia", "com.au", ("Perth", "Adelaide", "Brisbane", "Hobart"), ()),
        Country("Ireland", "ie", ("Cork", "Galway", "Limerick"), ()),
        Country("India", "in", ("Pune", "Chennai", "Jaipur"), ()),
        Country("Kenya", "co.ke", ("Nairobi", "Mombasa"), ()),
        Country("Nigeria", "ng", ("Lagos", "Abuja"), ()),
        Country("South Africa", "co.za", ("Durban", "Pretoria"), ()),
        Country("New Zealand", "co.nz", ("Wellington", "Dunedin"), ()),
    ),
    "fr": (
        Country("France", "fr", ("Lyon", "Nantes", "Lille", "Toulouse", "Rennes", "Grenoble", "Dijon"), ()),
        Country("Belgique", "be", ("Liège", "Namur", "Mons"), ()),
        Country("Suisse", "ch", ("Lausanne", "Genève", "Neuchâtel"), ()),
        Country("Canada", "ca", ("Québec", "Sherbrooke", "Trois-Rivières"), ()),
        Country("Maroc", "ma", ("Casablanca", "Rabat", "Tanger"), ()),
        Country("Sénégal", "sn", ("Dakar", "Thiès"), ()),
        Country("Tunisie", "tn", ("Tunis", "Sfax"), ()),
        Country("Côte d'Ivoire", "ci", ("Abidjan", "Bouaké"), ()),
    ),
}

#: Foreign markets for ``international_expansion``: (English name, French name with its preposition).
ABROAD: tuple[tuple[str, str], ...] = (
    ("Spain", "en Espagne"),
    ("Germany", "en Allemagne"),
    ("Japan", "au Japon"),
    ("Mexico", "au Mexique"),
    ("Poland", "en Pologne"),
    ("Brazil", "au Brésil"),
)

#: One clause per growth signal except ``ai_adoption`` (carried by the maturity sentence); ``{k}`` is a
#: number, ``{amount}`` a sum, ``{city}`` a city of the home country, ``{abroad}`` a foreign market.
EVENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "hiring": ("is hiring {k} engineers", "is recruiting {k} sales representatives"),
        "funding_round": ("raised {amount} in a Series A round", "closed a {amount} seed round"),
        "new_product": ("launched a new subscription plan", "introduced a new product range"),
        "international_expansion": ("expanded abroad for the first time, into {abroad}",),
        "partnership": ("signed a partnership with a national retailer", "partnered with a large insurer"),
        "acquisition": ("acquired a smaller rival", "bought a regional competitor"),
        "new_office": ("opened a new office in {city}", "is opening a new warehouse in {city}"),
        "revenue_growth": ("grew its revenue by {k} % last year", "saw sales rise by {k} % this year"),
        "leadership_hire": ("appointed a new chief financial officer", "named a new managing director"),
    },
    "fr": {
        "hiring": ("recrute {k} ingénieurs", "recrute {k} commerciaux"),
        "funding_round": (
            "a levé {amount} lors d'un tour de table",
            "a levé {amount} auprès d'investisseurs",
        ),
        "new_product": ("a lancé une nouvelle offre d'abonnement", "a lancé une nouvelle gamme"),
        "international_expansion": ("s'implante pour la première fois à l'étranger, {abroad}",),
        "partnership": (
            "a signé un partenariat avec une enseigne nationale",
            "a signé un partenariat avec un grand assureur",
        ),
        "acquisition": ("a racheté un concurrent plus petit", "a racheté une entreprise régionale"),
        "new_office": ("ouvre un nouveau bureau à {city}", "ouvre un nouvel entrepôt à {city}"),
        "revenue_growth": (
            "affiche un chiffre d'affaires en hausse de {k} % sur un an",
            "a vu son chiffre d'affaires progresser de {k} % l'an dernier",
        ),
        "leadership_hire": ("a nommé un nouveau directeur financier", "a nommé un nouveau directeur général"),
    },
}

#: Established AI practice, one sentence per maturity level (1 may also be left unsaid).
ESTABLISHED: dict[str, dict[int, tuple[str, ...]]] = {
    "en": {
        1: ("It does not use any AI tools.", "Its records are still kept on paper ledgers."),
        2: (
            "For two years its staff have used the AI features built into their CRM.",
            "Its marketers have used ChatGPT to draft newsletters since 2022.",
        ),
        3: (
            "Since 2021 it has run its first and only machine-learning model in production, "
            "which forecasts demand.",
            "It has been piloting an in-house model that predicts late payments since 2022.",
        ),
        4: (
            "Its six-person data team runs three machine-learning models in production: pricing, "
            "churn and demand forecasting.",
            "A data team of eight has maintained several machine-learning models in production "
            "for years, from fraud checks to route planning.",
        ),
        5: (
            "Its own machine-learning models are the core of the service it sells.",
            "The whole business is built on machine-learning models that it trains itself.",
        ),
    },
    "fr": {
        1: (
            "Elle n'utilise aucun outil d'IA.",
            "Ses dossiers sont encore tenus sur des registres papier.",
        ),
        2: (
            "Depuis deux ans, ses équipes utilisent les fonctions d'IA intégrées à leur CRM.",
            "Ses commerciaux utilisent ChatGPT pour rédiger des relances depuis 2022.",
        ),
        3: (
            "Depuis 2021, elle a en production son premier et unique modèle d'apprentissage automatique, "
            "qui prévoit la demande.",
            "Elle teste depuis 2022 un modèle maison qui prédit les retards de paiement.",
        ),
        4: (
            "Son équipe data de six personnes maintient trois modèles d'apprentissage automatique en "
            "production : tarification, attrition et prévision de la demande.",
            "Une équipe data de huit personnes fait tourner depuis des années plusieurs modèles "
            "d'apprentissage automatique en production, de la détection des fraudes aux tournées.",
        ),
        5: (
            "Ses propres modèles d'apprentissage automatique sont le cœur du service qu'elle vend.",
            "Toute son activité repose sur des modèles d'apprentissage automatique qu'elle entraîne "
            "elle-même.",
        ),
    },
}

#: A recent step in AI use: maturity evidence and the ``ai_adoption`` signal together (levels 2-4).
ADOPTION: dict[str, dict[int, tuple[str, ...]]] = {
    "en": {
        2: (
            "Last month it rolled out the AI features of its help-desk software.",
            "This year it started using Microsoft Copilot across the company.",
        ),
        3: ("This year it started piloting its first machine-learning model, which flags late deliveries.",),
        4: (
            "Its six-person data team, which already runs two machine-learning models in production, "
            "deployed a third this spring.",
        ),
    },
    "fr": {
        2: (
            "Le mois dernier, elle a déployé les fonctions d'IA de son logiciel de support client.",
            "Cette année, elle a commencé à utiliser Microsoft Copilot dans toute l'entreprise.",
        ),
        3: (
            "Cette année, elle a commencé à tester son premier modèle d'apprentissage automatique, "
            "qui signale les livraisons en retard.",
        ),
        4: (
            "Son équipe data de six personnes, qui fait déjà tourner deux modèles d'apprentissage "
            "automatique en production, en a déployé un troisième ce printemps.",
        ),
    },
}

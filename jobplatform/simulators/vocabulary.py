"""Words the simulators build plausible people, deals and transactions from."""

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra",
    "Priya", "Ashley", "Wei", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenji", "Amanda",
    "Omar", "Melissa", "Sofia", "Deborah", "Luis", "Stephanie", "Aisha", "Rebecca", "Noah", "Laura",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
)
STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Lakeview Dr",
    "Sunset Blvd", "Park Ave", "Washington St", "Highland Ave", "Meadow Ln", "Ridge Rd",
    "Willow Way", "Hillcrest Dr", "River Rd", "Forest Ave", "Spring St", "Church St", "Mill Rd",
)
CITIES = (
    ("Austin", "TX", "787"), ("Denver", "CO", "802"), ("Phoenix", "AZ", "850"),
    ("Charlotte", "NC", "282"), ("Tampa", "FL", "336"), ("Nashville", "TN", "372"),
    ("Atlanta", "GA", "303"), ("Boise", "ID", "837"), ("Raleigh", "NC", "276"),
    ("Columbus", "OH", "432"), ("Sacramento", "CA", "958"), ("Portland", "OR", "972"),
)
SOURCES = (
    "Zillow", "Realtor.com", "Website", "Open House", "Referral", "Facebook", "Sphere",
    "Google", "Homes.com", "Sign Call",
)
TAGS = (
    "Buyer", "Seller", "Investor", "First-time buyer", "Relocation", "Hot", "Cold", "VIP",
    "Pre-approved", "Downsizing", "Luxury", "Past client",
)

"""The labelled set of ``bench/search_quality.py``: targets with their queries, and distractors.

Targets are written out here by hand: documents on distinct topics (a few long enough for
several chunks, with the answer in a later one), images of signs (words drawn large for OCR to
read, under a camera's file name) and scenes (drawn shapes; what they show is only in the title
and tags a user gave them). Each target has two queries: ``exact`` shares words with it,
``paraphrase`` asks for the same thing in other words. ``paraphrase_leaks`` proves the second
kind honest: no content word of a paraphrase may match the target's searchable text the way the
lexical index matches words (as a prefix), nor the other way round.

Distractors are generated, seeded, from vocabularies of their own (meeting minutes about office
chores, stock counts, weather logs, electronic parts, shipping manifests; images of random
shapes, some with serial or room numbers): plausible neighbours that answer none of the
queries. ``distractor_overlaps`` checks that no vocabulary word is a key word of a target.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "DISTRACTOR_VOCABULARY",
    "STOP_WORDS",
    "Distractor",
    "Target",
    "distractor_overlaps",
    "distractors",
    "paraphrase_leaks",
    "render",
    "targets",
    "words",
]

Kind = Literal["document", "sign", "scene"]
IMAGE_SIZE = (800, 500)  # modest: OCR of each image costs about a second on a shared core

# Function words a query may use freely. Every one of them is also left out by the server's
# ranked lexical search (search/lexical.py); search_quality.py checks that, so a word dropped
# here is never one the lexical leg could match on.
_STOP = """
    a about after all am an and any are as at be before by can could did do does for from had
    has have he her him his how i if in into is it its me my no not of off on or our out over
    she should so that the their them then there these they this those to up was we were what
    when where which while who why will with would you your
    find show photo picture image file document
"""
STOP_WORDS = frozenset(_STOP.split())

# Words of the offline ``basic`` describer, which describes every image (shape, kind, format,
# size, colours, the text it read). Paraphrases of images avoid them too, though the brief lets
# them pass, so that no image paraphrase is helped by the describer's boilerplate.
_DESCRIBER = """
    landscape portrait square photo like png jpeg jpg image pixels mp mostly contains text line
    lines found taken animated document black white gray red orange yellow green blue sky
    purple pink brown beige teal colour
"""
DESCRIBER_WORDS = frozenset(_DESCRIBER.split())

_WORD = re.compile(r"[^\W_]+")  # a token as the server's FTS5 tokenizer (unicode61) cuts them


def words(text: str) -> list[str]:
    """The lowercase tokens of ``text``, as the lexical index sees them."""
    return [w.lower() for w in _WORD.findall(text)]


@dataclass(frozen=True)
class Target:
    """A file that one exact query and one paraphrase should find first."""

    key: str
    kind: Kind
    filename: str
    exact: str
    paraphrase: str
    body: str = ""  # a document's text, or a sign's lines (one per line)
    title: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def is_image(self) -> bool:
        return self.kind != "document"

    def searchable(self) -> str:
        """Everything of this target the server indexes that we control."""
        return "\n".join([self.filename, self.title or "", " ".join(self.tags), self.body])


def _document(key: str, ext: str, body: str, exact: str, paraphrase: str) -> Target:
    return Target(key, "document", f"{key}.{ext}", exact, paraphrase, body=body)


def _sign(number: int, lines: str, exact: str, paraphrase: str) -> Target:
    # a camera's file name: what the sign says is only in its pixels, for OCR to read
    return Target(f"sign-{number}", "sign", f"IMG_{number}.png", exact, paraphrase, body=lines)


def _scene(number: int, title: str, tags: tuple[str, ...], exact: str, para: str) -> Target:
    return Target(
        f"scene-{number}", "scene", f"IMG_{number}.jpg", exact, para, title=title, tags=tags
    )


# --- target documents: short ones (one chunk) ---

_SHORT_DOCUMENTS = [
    _document(
        "lease-pet-clause", "txt",
        "Clause 14 - Pets. The tenant shall not keep any animal at the property without the "
        "prior written consent of the landlord. Consent will not be unreasonably withheld for "
        "one cat or one small caged bird. Where consent is given, the tenant agrees to have "
        "the carpets professionally cleaned at the end of the tenancy and to pay for any "
        "damage caused by the animal beyond fair wear and tear. Consent may be withdrawn if "
        "the animal causes a nuisance to neighbours.",
        "lease clause about keeping pets and landlord consent",
        "can a renter have a kitten in the flat if the owner permits it",
    ),
    _document(
        "sourdough-loaf", "md",
        "# Sourdough loaf\n\nFeed the starter the night before: equal weights of flour and "
        "water, left at room temperature until bubbly and doubled. In the morning mix 500 g "
        "strong white flour, 350 g water, 100 g active starter and 10 g salt. Stretch and fold "
        "the dough four times, thirty minutes apart, then let it rise for four to six hours. "
        "Shape it into a tight ball, place it in a floured basket and refrigerate overnight. "
        "Bake in a preheated cast iron pot at 240 C, twenty minutes with the lid on and "
        "twenty-five with it off, until the crust is deep brown.",
        "sourdough starter feeding and baking the loaf",
        "how to make naturally leavened bread with a wild yeast culture",
    ),
    _document(
        "bicycle-brake-repair", "txt",
        "Adjusting rim brakes on a bicycle. If the lever pulls almost to the handlebar, the "
        "cable has stretched. Turn the barrel adjuster anticlockwise a couple of turns to take "
        "up the slack. Check that both pads strike the rim squarely and not the tyre; loosen "
        "the pad bolt with a 5 mm hex key, align the pad and tighten it again. Worn pads with "
        "no visible grooves should be replaced. Finally spin the wheel and make sure it turns "
        "freely without rubbing.",
        "adjust bicycle brake pads and cable",
        "my bike will not stop properly, how do I fix it",
    ),
    _document(
        "dog-vaccination-schedule", "txt",
        "Vaccination schedule for puppies. The first injection is given at eight weeks of age, "
        "the second at ten to twelve weeks. Puppies should not walk in public places until one "
        "week after the second dose. Adult dogs need a booster every year for leptospirosis "
        "and every three years for distemper, parvovirus and hepatitis. Kennel cough "
        "protection is a nasal spray that is recommended before a stay at boarding kennels. "
        "Bring the vaccination card to every appointment.",
        "puppy vaccination schedule and booster",
        "when should my young hound get its jabs at the vet",
    ),
    _document(
        "sales-memo-q3", "txt",
        "Memo to regional managers. Third-quarter sales reached 4.2 million, up 12 percent on "
        "the same quarter last year. Growth came mostly from the northern region, where the "
        "new distributor contract added 38 retail accounts. The southern region fell short of "
        "target by 6 percent because two large customers delayed orders into the fourth "
        "quarter. Please send revised forecasts for Q4 by Friday and flag any accounts at "
        "risk.",
        "third quarter sales memo regional results",
        "how much revenue did we earn between July and September compared with twelve months "
        "earlier",
    ),
    _document(
        "ridge-loop-trail", "md",
        "## Ridge loop trail\n\nDistance 11 km, ascent 640 m, allow four to five hours. Start "
        "from the car park at the village church and follow the stream up through the pine "
        "woods. After the footbridge the path climbs steeply to the ridge, which is exposed "
        "and can be windy. Follow the cairns along the crest to the summit, which has wide "
        "views over three valleys. Descend by the grassy shoulder to the north and return "
        "along the old quarry track. Sturdy boots are essential; the upper section is muddy "
        "after rain.",
        "ridge loop trail to the summit, distance and ascent",
        "a day hike up a mountain peak, how long does it take",
    ),
    _document(
        "insurance-claim-water-damage", "txt",
        "Claim reference HX-20931. On 3 March a pipe burst in the upstairs bathroom and water "
        "came through the kitchen ceiling. The policyholder turned off the mains supply and "
        "called an emergency plumber, whose invoice is attached. Damaged items: kitchen "
        "ceiling plaster, two wall cupboards, laminate flooring and a microwave. The loss "
        "adjuster will visit on 14 March to assess the damage. Under the buildings and "
        "contents policy the excess is 250 pounds. Photographs of the damage were submitted "
        "with this claim.",
        "insurance claim for water damage from a burst pipe",
        "leak flooded our house, how to get reimbursed for repairs",
    ),
    _document(
        "wedding-rsvp", "md",
        "You are invited to the wedding of Anna Kowalski and Tom Reed on Saturday 21 June at 2 "
        "pm, St Mary's Church, Millbrook, followed by a reception at Hollow Farm Barn. Please "
        "RSVP by 1 May using the enclosed card, and let us know of any dietary requirements. "
        "Children are welcome. A coach will run from the church to the barn and back to the "
        "Millbrook Inn at midnight. Dress code: summer formal.",
        "wedding RSVP and reception details",
        "marriage celebration: reply by which date, and is there a bus to the party venue",
    ),
    _document(
        "punctured-tyre-change", "txt",
        "Changing a punctured wheel at the roadside. Park on firm level ground, switch on the "
        "hazard lights and apply the handbrake. Loosen the wheel nuts half a turn before "
        "raising the car. Place the jack under the reinforced point on the sill nearest the "
        "wheel and lift until the tyre clears the ground. Remove the nuts, swap in the spare, "
        "and tighten the nuts in a star pattern. Lower the car and tighten fully. A "
        "space-saver spare is limited to 50 mph.",
        "changing a punctured tyre with the jack and spare wheel",
        "my automobile has a flat, how do I fit the replacement",
    ),
    _document(
        "tax-return-deadline", "txt",
        "Reminder: the deadline for filing your self assessment tax return online is 31 "
        "January. Paper returns must arrive by 31 October. If you miss the deadline there is "
        "an automatic penalty of 100 pounds, rising after three months. Any tax owed must also "
        "be paid by 31 January, together with the first payment on account for the following "
        "year. Keep records of income and expenses for at least five years.",
        "self assessment tax return deadline and penalty",
        "when do I submit my annual earnings statement to avoid a fine",
    ),
    _document(
        "succulent-watering", "md",
        "Succulents store water in their thick leaves, so they need far less than most "
        "houseplants. Water thoroughly only when the soil has dried out completely, which in "
        "summer is about every ten days and in winter once a month. Use a gritty cactus "
        "compost and a pot with a drainage hole. Soft, yellowing or translucent leaves are a "
        "sign of overwatering; wrinkled leaves mean the plant is thirsty. Give them the "
        "brightest windowsill you have.",
        "how often to water succulents",
        "looking after fleshy desert greenery indoors: how frequently to moisten it",
    ),
    _document(
        "job-offer-letter", "txt",
        "Dear Priya, we are pleased to offer you the position of Junior Data Analyst at "
        "Northgate Logistics. Your starting salary will be 31,500 per year, paid monthly, with "
        "a review after six months. Your first day will be Monday 2 September at 9 am at our "
        "Leeds office. The role includes 25 days of annual leave plus bank holidays and a "
        "contributory pension. Please sign and return the enclosed contract within ten days to "
        "accept.",
        "job offer letter with salary and start date",
        "employment proposal: how much pay will the new hire earn",
    ),
    _document(
        "burns-first-aid", "txt",
        "First aid for burns. Cool the burn under cool or lukewarm running water for at least "
        "20 minutes as soon as possible. Do not use ice, butter or creams. Remove jewellery "
        "and clothing near the burnt area unless it is stuck to the skin. Cover the burn "
        "loosely with cling film or a clean plastic bag. Seek medical help for burns larger "
        "than the casualty's hand, burns on the face, hands or genitals, and for any burn on a "
        "child.",
        "first aid treatment for a burn",
        "I scalded my arm on the stove, what should I do right away",
    ),
    _document(
        "sicilian-defence", "md",
        "Sicilian Defence notes. After 1.e4 c5 Black fights for the centre from the side "
        "instead of mirroring White. The Najdorf, with 5...a6, keeps options open for ...e5 or "
        "...e6 and is the sharpest main line. In the Open Sicilian White plays 2.Nf3 and 3.d4, "
        "trading a central pawn for a lead in development. Typical plans for Black include a "
        "queenside minority attack with ...b5 and pressure along the half-open c-file.",
        "Sicilian defence chess opening Najdorf",
        "strategy for the dark pieces in a board game against an aggressive first move",
    ),
    _document(
        "aquarium-maintenance", "txt",
        "Weekly maintenance for a freshwater aquarium. Switch off the heater and filter, then "
        "siphon about a quarter of the tank water while vacuuming debris from the gravel. "
        "Treat the replacement water with dechlorinator and bring it to within two degrees of "
        "the tank temperature before adding it slowly. Rinse the filter sponge only in the old "
        "tank water, never under the tap, so the beneficial bacteria survive. Test nitrate "
        "levels once a month.",
        "aquarium tank water change and filter cleaning",
        "routine care for pet fish at home every seven days",
    ),
    _document(
        "museum-trip-consent", "txt",
        "Year 4 trip to the Natural History Museum. On Thursday 12 October the class will "
        "travel by coach, leaving school at 8.45 and returning by 3.30. Children need a packed "
        "lunch in a disposable bag, a waterproof coat and comfortable shoes. The cost is 8 "
        "pounds, payable through the parent portal. Please complete and return the consent "
        "slip below by Friday 6 October. Without a signed slip your child cannot attend.",
        "school trip to the museum consent slip",
        "paperwork allowing my boy to join an excursion to see dinosaurs",
    ),
    _document(
        "remortgage-offers", "txt",
        "Comparing two remortgage offers for the house. Offer A: five-year fixed rate of 4.1 "
        "percent with a 999 arrangement fee. Offer B: two-year fixed at 3.8 percent, no fee, "
        "then the lender's standard variable rate. On a balance of 180,000 over 22 years, A "
        "costs about 1,010 a month and B about 975 for the first two years. Early repayment "
        "charges apply to both during the fixed period. Broker recommendation: A, for "
        "certainty.",
        "remortgage offers fixed rate comparison",
        "which home loan deal is cheaper over time if interest goes up",
    ),
    _document(
        "guitar-restringing", "md",
        "Restringing an acoustic guitar. Change one string at a time to keep tension on the "
        "neck. Loosen the old string, pull the bridge pin with a pin puller and remove it. "
        "Seat the ball end of the new string under the bridge and push the pin back in. Thread "
        "the string through the tuning post, leaving about five centimetres of slack, and wind "
        "it so the string comes off the inside of the post. Stretch each new string gently and "
        "retune several times.",
        "restringing an acoustic guitar",
        "how to put fresh wires on a six-wire folk instrument",
    ),
    _document(
        "espresso-descaling", "txt",
        "Descaling your espresso machine every two months keeps limescale from blocking the "
        "boiler. Empty the drip tray and fill the reservoir with one litre of water and one "
        "sachet of descaler. Run half the solution through the steam wand and the rest through "
        "the group head, pausing ten minutes halfway. Rinse by running two full reservoirs of "
        "fresh water. In hard water areas, descale monthly.",
        "descaling an espresso machine",
        "removing mineral buildup from my coffee maker",
    ),
    _document(
        "solar-quotation", "txt",
        "Quotation for a rooftop solar installation at 14 Ash Grove. System: twelve 430 W "
        "panels (5.16 kWp) on the south-facing roof, a hybrid inverter and a 9.5 kWh battery. "
        "Estimated generation 4,600 kWh per year, saving around 1,100 a year at current "
        "tariffs. Price including scaffolding, fitting and commissioning: 11,850, zero VAT. "
        "Installation takes two days. Panels carry a 25-year performance warranty.",
        "quotation for rooftop solar panels and battery",
        "what will it cost to put photovoltaic cells on our house",
    ),
    _document(
        "vesuvius-lecture", "md",
        "Lecture notes: Mount Vesuvius. The eruption of AD 79 buried Pompeii and Herculaneum "
        "under ash and pyroclastic flows. Pliny the Younger's letters describe a tall column "
        "of ash shaped like an umbrella pine, giving the name Plinian to such eruptions. The "
        "volcano sits above a subduction zone where the African plate moves beneath the "
        "Eurasian plate. Its last eruption was in 1944, and around 600,000 people live in the "
        "red zone today.",
        "Vesuvius eruption Pompeii lecture notes",
        "which ancient Roman towns were destroyed by the fiery peak near Naples",
    ),
    _document(
        "marathon-plan", "txt",
        "Sixteen-week marathon plan for first-timers. Run four days a week: two easy runs, one "
        "session of intervals or tempo, and a long run on Sunday that builds from 10 km to 32 "
        "km by week 13. Every fourth week cut the mileage by a third to recover. Taper over "
        "the final three weeks. Practise race-day fuelling on long runs with gels every 40 "
        "minutes. Rest days matter as much as running days.",
        "marathon training plan long run and taper",
        "preparing to finish a 42 kilometre footrace as a novice jogger",
    ),
    _document(
        "hive-inspection", "md",
        "Checklist for a hive inspection in spring. Choose a warm, calm day and use the smoker "
        "gently at the entrance. Look for eggs standing upright in cells: that means the queen "
        "was laying in the last three days. Count frames of brood and stores. Queen cells "
        "along the bottom edge of a frame suggest the colony is preparing to swarm; add a "
        "super or make an artificial swarm. Check for varroa on the drone brood.",
        "beehive inspection queen cells and swarm",
        "how can I tell my honey bees might fly away to a new home",
    ),
    _document(
        "ribbed-scarf-pattern", "md",
        "Ribbed scarf pattern. Yarn: three balls of chunky merino. Needles: 8 mm. Cast on 32 "
        "stitches. Row 1: knit 2, purl 2 to the end. Repeat this row until the scarf measures "
        "160 cm, or until you have about a metre of yarn left. Cast off loosely in pattern. "
        "Weave in the ends and block lightly with steam. For a fringe, cut 20 cm strands and "
        "knot them along both short edges.",
        "knitting pattern for a ribbed scarf",
        "instructions to make a woolly neck warmer with two sticks",
    ),
    _document(
        "tooth-extraction-aftercare", "txt",
        "After your tooth extraction. Bite on the gauze pad for 30 minutes to let a clot form. "
        "For the first 24 hours do not rinse, spit, smoke or drink through a straw, as this "
        "can dislodge the clot and cause a dry socket. From the next day rinse gently with "
        "warm salt water after meals. Take paracetamol or ibuprofen for pain. Contact the "
        "surgery if bleeding continues or the pain gets worse after three days.",
        "aftercare following a tooth extraction",
        "I had a molar pulled at the dentist, what should I avoid doing",
    ),
    _document(
        "passport-renewal", "md",
        "Renewing an adult passport. Apply online and upload a digital photo taken against a "
        "plain light background within the last month. Post your old passport in the envelope "
        "provided within 30 days of applying. The fee is 88.50 online. Allow three weeks; do "
        "not book travel until the new one arrives. If your old passport is damaged or lost "
        "you must report it first and apply in a different way.",
        "renewing an adult passport online",
        "my identity papers for going abroad expire soon, how do I replace them",
    ),
    _document(
        "rioja-tasting-notes", "md",
        "Tasting notes, Rioja Reserva 2016. Colour: deep garnet with a brick rim. Nose: ripe "
        "cherry, vanilla and tobacco from the American oak. Palate: medium bodied with soft "
        "tannins, dried fig and a touch of leather, finishing long and savoury. Drink now to "
        "2028; decant an hour before serving. Pairs well with roast lamb or aged Manchego. "
        "Score: 91 points. Bought at the cellar door for 24 euros; two more are in the rack.",
        "Rioja Reserva wine tasting notes",
        "spanish red bottle: flavour profile and what dinner to eat alongside",
    ),
    _document(
        "moving-day-checklist", "md",
        "Moving day checklist. Two weeks before: book the removal van, start packing rooms you "
        "rarely use, and redirect your post. One week before: defrost the freezer, confirm the "
        "key handover time with the agent and label boxes by room. On the day: take meter "
        "readings, keep a box of essentials (kettle, mugs, toilet roll, chargers) with you, "
        "and check every cupboard before leaving.",
        "moving house checklist packing and removal van",
        "relocating to a new home: things to remember before we go",
    ),
    _document(
        "photosynthesis-revision", "md",
        "Biology revision: photosynthesis. Plants use light energy, absorbed by chlorophyll in "
        "the chloroplasts, to turn carbon dioxide and water into glucose and oxygen. The "
        "light-dependent reactions happen in the thylakoid membranes and produce ATP and "
        "NADPH; the Calvin cycle in the stroma uses them to fix carbon. The rate is limited by "
        "light intensity, carbon dioxide concentration and temperature, whichever is in "
        "shortest supply.",
        "photosynthesis chlorophyll light reactions revision",
        "how do green leaves make sugar from sunshine",
    ),
    _document(
        "western-empire-essay", "md",
        "Essay: why did the Western Roman Empire fall? Historians point to a mix of causes. "
        "Economic strain from debased coinage and heavy taxation weakened loyalty to the "
        "state. The army relied increasingly on Germanic federates whose commanders pursued "
        "their own interests. Political instability saw more than twenty emperors in fifty "
        "years during the third-century crisis. In 476 the last emperor, Romulus Augustulus, "
        "was deposed by Odoacer.",
        "why did the Western Roman Empire fall",
        "reasons the ancient Italian superpower collapsed, and who toppled its final ruler",
    ),
    _document(
        "phishing-notice", "md",
        "IT security notice: phishing. Never enter your password on a page reached from a link "
        "in an email, even if it looks like it comes from IT. Check the sender's address "
        "carefully; attackers use look-alike domains. We will never ask for your password or a "
        "multi-factor code. If you clicked a suspicious link, change your password at once and "
        "report it to the service desk on extension 4400.",
        "phishing email password security notice",
        "what to do if a scam message tries to steal my login details",
    ),
    _document(
        "compost-guide", "md",
        "Making good compost. Mix green material (grass cuttings, vegetable peelings, coffee "
        "grounds) with brown material (cardboard, dry leaves, straw) in roughly equal amounts. "
        "Turn the heap every few weeks to let air in. It should be as damp as a wrung-out "
        "sponge. Avoid meat, dairy and cooked food, which attract rats. Compost is ready in "
        "six to twelve months when it is dark and crumbly and smells of earth.",
        "making compost green and brown material",
        "converting kitchen scraps and yard waste into rich soil",
    ),
    _document(
        "baby-bedtime-routine", "md",
        "A bedtime routine for babies from three months. Start at the same time each evening: "
        "a warm bath, a feed in a dim room, a clean nappy, then a short song or story. Put the "
        "baby down drowsy but awake so they learn to settle themselves. Keep night feeds quiet "
        "and boring, with no play and minimal light. Most babies of six months need 12 to 15 "
        "hours of sleep in 24 hours, including naps.",
        "bedtime routine to help a baby sleep",
        "getting a newborn to drift off without crying",
    ),
    _document(
        "fire-procedure", "md",
        "Fire procedure for the third floor. If you discover a fire, raise the alarm by "
        "breaking the nearest call point. When the alarm sounds continuously, leave by the "
        "nearest staircase; do not use the lifts. Do not stop to collect belongings. Assemble "
        "at point B in the car park opposite the main entrance and report to your fire warden. "
        "Do not re-enter until the fire service says it is safe.",
        "fire evacuation procedure assembly point",
        "where do we gather outside when the building is burning",
    ),
    _document(
        "laptop-battery-warranty", "md",
        "Limited warranty: laptop battery. The battery is covered for 12 months from purchase "
        "against defects that reduce its capacity below 80 percent of the rated value. Normal "
        "loss of capacity with use is not a defect. The warranty does not cover damage from "
        "drops, liquid or unauthorised repairs. To claim, run the built-in diagnostic and send "
        "us the result with your proof of purchase; we will send a replacement or repair the "
        "unit.",
        "laptop battery warranty claim",
        "my notebook computer no longer holds a charge, will the maker swap it for free",
    ),
    _document(
        "car-rental-fuel-policy", "md",
        "Rental agreement, section 7: fuel. The vehicle is supplied with a full tank and must "
        "be returned full. If it comes back with less, we charge for the missing fuel at 2.40 "
        "per litre plus a 25 refuelling fee. Keep the receipt from a filling station within 15 "
        "km of the return branch as proof. Electric vehicles must be returned with at least 70 "
        "percent charge.",
        "rental car fuel policy full tank",
        "do I need to top up the petrol before dropping off a hired motor",
    ),
    _document(
        "thai-green-curry", "md",
        "Thai green curry with chicken (serves 4). Fry 3 tablespoons of green curry paste in a "
        "splash of oil until fragrant. Add 400 ml coconut milk and bring to a simmer. Add 500 "
        "g sliced chicken thighs and cook for 10 minutes, then aubergine, green beans and 4 "
        "lime leaves for 5 minutes more. Season with fish sauce and palm sugar, and finish "
        "with Thai basil. Serve with jasmine rice.",
        "Thai green curry with chicken and coconut milk",
        "spicy southeast asian poultry meal for supper",
    ),
    _document(
        "jupiter-moons", "md",
        "Observing the moons of Jupiter. Even 10x50 binoculars show the four Galilean moons as "
        "points of light in a line either side of the planet. Brace the binoculars against a "
        "wall or use a tripod to hold them steady. Their positions change from night to night, "
        "and sometimes one is hidden behind Jupiter or in its shadow. A small telescope at 50x "
        "also shows the cloud belts and, when it faces us, the Great Red Spot.",
        "observing Jupiter's moons with binoculars",
        "seeing the satellites of the largest gas giant with stargazing optics",
    ),
    _document(
        "piano-practice-plan", "md",
        "Practice plan for grade 3 piano. Warm up for five minutes with scales in C, G and F "
        "major, hands separately and then together. Spend ten minutes on the sight-reading "
        "book. Then work on the three exam pieces slowly, a few bars at a time, with the "
        "metronome at 60 before raising the tempo. Finish by playing one piece all the way "
        "through without stopping, as in the exam.",
        "piano practice plan for the grade 3 exam",
        "how should my kid rehearse at the keyboard before the music test",
    ),
    _document(
        "tomato-blight", "md",
        "Tomato blight appears as brown patches on the leaves that spread fast in warm, wet "
        "weather, followed by dark lesions on stems and rotting fruit. Remove and bin affected "
        "leaves straight away; do not compost them. Water at the base, not over the foliage, "
        "and give plants space for air to circulate. Outdoor plants are most at risk from July "
        "onwards; resistant varieties such as Crimson Crush help.",
        "tomato blight brown patches on leaves",
        "disease killing the red salad crops in my greenhouse",
    ),
    _document(
        "breathing-exercise", "md",
        "A five-minute breathing exercise. Sit comfortably with your back upright and eyes "
        "closed or lowered. Breathe in through the nose for a count of four, hold for four, "
        "and breathe out slowly for six. Notice the air at the tip of the nose. When your mind "
        "wanders, and it will, simply return your attention to the breath without judging "
        "yourself. Practise daily, ideally at the same time.",
        "five-minute breathing exercise meditation",
        "calming nerves with a short relaxation technique",
    ),
    _document(
        "kaito-sushi-review", "md",
        "Review: Kaito, Market Street. The omakase counter seats only ten, so book ahead. "
        "Twelve courses arrived over two hours, from delicate sea bream with yuzu to fatty "
        "tuna seared with a blowtorch. The rice was warm and lightly seasoned, as it should "
        "be. Service was attentive without fuss. At 95 per person before drinks it is not "
        "cheap, but it is the best sushi I have eaten in the city. Four stars.",
        "Kaito sushi omakase restaurant review",
        "where to dine on japanese raw fish downtown and is it good value",
    ),
    _document(
        "baggage-allowance", "md",
        "Baggage allowance on economy tickets. Each passenger may bring one cabin bag up to 10 "
        "kg and 55 x 40 x 20 cm, plus a small personal item that fits under the seat. Checked "
        "luggage is not included in the basic fare; add a 23 kg hold bag for 35 when booking "
        "or 60 at the airport. Overweight bags are charged 12 per extra kilogram. Sports "
        "equipment such as skis or golf clubs must be booked in advance.",
        "baggage allowance cabin bag and checked luggage",
        "how heavy can my suitcase be when flying",
    ),
    _document(
        "postal-vote", "md",
        "Voting by post. You can apply for a postal vote if you will be away on polling day. "
        "Fill in the application form and return it at least 11 working days before the "
        "election. Your ballot pack arrives about a week before polling day. Mark your choice, "
        "sign the declaration with the same signature as on your application and post it back "
        "so it arrives by 10 pm on election day.",
        "postal vote application for the election",
        "how to take part in the referendum by mail while I am travelling abroad",
    ),
    _document(
        "dripping-tap-fix", "md",
        "Fixing a dripping tap. Turn off the water at the isolation valve under the sink and "
        "open the tap to drain it. Prise off the decorative cap, undo the screw and lift off "
        "the handle. Unscrew the headgear nut with an adjustable spanner and replace the "
        "rubber washer at the bottom. For ceramic disc taps, replace the whole cartridge "
        "instead. Reassemble, turn the water back on and check for leaks.",
        "fixing a dripping tap washer",
        "my basin faucet keeps running drop by drop, how do I mend it",
    ),
]  # fmt: skip

# --- target documents: long ones (two or three chunks; the answer is in a later chunk) ---

_LONG_DOCUMENTS = [
    _document(
        "staff-handbook", "md",
        "# Staff handbook, Harlow & Finch Ltd\n\n## Working hours\nThe standard week is 37.5 "
        "hours, Monday to Friday. Core hours are 10:00 to 16:00; outside these you may start "
        "and finish when it suits you, provided your manager agrees and your team is covered. "
        "Overtime must be approved in advance and is repaid as time off in lieu.\n\n## "
        "Expenses\nClaims for travel, hotels and client entertainment are submitted through "
        "the finance portal within 30 days, with itemised receipts. Rail travel is standard "
        "class unless the journey is longer than three hours. Mileage in a private car is "
        "repaid at 45p per mile for the first 10,000 miles each tax year.\n\n## "
        "Equipment\nEach employee receives a laptop, a headset and a phone on the first day. "
        "Equipment remains company property and must be returned when you leave. Report losses "
        "to the IT desk within 24 hours.\n\n## Dress\nThere is no formal dress code, but staff "
        "meeting clients should dress as the client would expect. Name badges are worn on site "
        "at all times.\n\n## Sickness\nIf you are unwell, phone your line manager before 09:30 "
        "on the first morning. A fit note from a doctor is needed after seven calendar "
        "days.\n\n## Parental leave\nEmployees with at least 26 weeks of continuous service by "
        "the fifteenth week before the expected due date are entitled to 26 weeks of maternity "
        "leave on full pay, followed by 13 weeks at the statutory rate. Partners may take four "
        "weeks of paternity leave on full pay within the first year. Adoption leave follows "
        "the same rules, counted from the date of placement. Tell HR of your plans at least 15 "
        "weeks before the due date so that cover can be arranged. Keeping-in-touch days, up to "
        "ten, are paid at your normal rate.",
        "maternity leave on full pay in the staff handbook",
        "how many months can a mother stay home with her newborn baby",
    ),
    _document(
        "washing-machine-manual", "md",
        "# AquaWash 7 user manual\n\n## Installation\nRemove the three transit bolts from the "
        "back panel before first use and keep them for moving the appliance later. Stand the "
        "machine on a firm, level floor and adjust the feet until it does not rock. Connect "
        "the inlet hose to a cold water tap and hook the drain hose over the standpipe, no "
        "higher than 90 cm.\n\n## Detergent and programmes\nUse a low-foam detergent in "
        "compartment II for the main wash; compartment I is for prewash and the flower-shaped "
        "compartment for softener. Cottons 40 is the everyday programme. Quick 30 washes a "
        "lightly soiled half load in 30 minutes. Wool uses a gentle drum action and a cold "
        "rinse. Eco 40-60 saves energy by washing for longer at a lower temperature, so expect "
        "nearly three hours.\n\n## Care\nWipe the door seal after each wash and leave the door "
        "ajar so it can dry. Run a hot maintenance wash with no clothes once a month. Clean "
        "the detergent drawer under a warm tap every few weeks, and check the hoses for cracks "
        "twice a year. The child lock is set by holding the two right-hand buttons for three "
        "seconds.\n\n## Error codes\nE10: no water is coming in; check that the tap is open "
        "and the inlet hose is not kinked. E21: the water is not draining away. Switch off, "
        "place a shallow tray and towels under the small flap at the front bottom right, "
        "unscrew the pump filter slowly to let the water out, remove fluff, coins or "
        "hairgrips, then refit it firmly. E40: the door is not locked; close it until it "
        "clicks. If a code returns after these steps, call the service line.",
        "washing machine error E21 water not draining pump filter",
        "laundry unit displays a fault and stays full of soapy liquid",
    ),
    _document(
        "linden-court-house-rules", "md",
        "# House rules, Linden Court\n\n## Refuse and recycling\nGeneral waste goes in the "
        "black bins in the courtyard, collected on Tuesdays. Paper, glass, cans and plastic "
        "bottles go in the blue bins, collected every other Friday. Flatten boxes before "
        "putting them out. Bulky items such as mattresses must be booked for collection "
        "through the managing agent; do not leave them in the hallway or on the landings, "
        "where they block the way out in an emergency.\n\n## Bicycles and prams\nBicycles are "
        "stored in the locked shed by the side gate; each flat has one key. Prams may be kept "
        "under the stairs on the ground floor, as long as the fire exit stays clear. "
        "Motorbikes belong in the marked bays behind the block, never on the paths.\n\n## Keys "
        "and access\nDo not prop the main door open or let strangers in behind you. Lost fobs "
        "cost 25 to replace; ask the managing agent, who needs two working days. Deliveries "
        "that do not fit through a letterbox are left in the parcel room beside the lifts; "
        "collect them within a week. Window boxes must be fixed on the inside of the "
        "railings.\n\n## Noise\nQuiet hours are from 22:00 to 07:00 on weekdays and from 23:00 "
        "to 09:00 at weekends. During quiet hours keep music and television low, and avoid "
        "using washing machines, vacuum cleaners or power tools. DIY work with drills is "
        "allowed only between 09:00 and 18:00 on weekdays. If you plan a party, put a note on "
        "the notice board at least three days ahead. Persistent disturbance should be reported "
        "to the managing agent in writing.",
        "quiet hours and noise in the house rules",
        "at what time should residents of the building stop making a racket",
    ),
    _document(
        "japan-itinerary", "md",
        "# Japan, two weeks in April\n\nDay 1-3, Tokyo. Arrive at Haneda, take the monorail to "
        "Hamamatsucho and check in at the hotel in Shimbashi. Visit the Meiji shrine early "
        "before the crowds, walk through Harajuku and Shibuya, and spend an evening in "
        "Shinjuku's Omoide Yokocho. On day 3 take a day trip to Kamakura to see the Great "
        "Buddha, then the bamboo paths of Hokokuji temple and the beach at Yuigahama.\n\nDay "
        "4-6, Kyoto. Take the shinkansen from Tokyo station, 2 hours 15 minutes; seats are "
        "reserved with the rail pass. Fushimi Inari at dawn to beat the crowds, then the "
        "Higashiyama district and Kiyomizu-dera. Day 5: Arashiyama bamboo grove and the monkey "
        "park. Day 6: a day trip to Nara to feed the deer and see the giant bronze Buddha at "
        "Todai-ji. In the evening walk along Pontocho alley and book a kaiseki dinner well "
        "ahead; most places seat fewer than twenty. Leave the big suitcases at the Kyoto hotel "
        "and travel on with a small bag for two nights, since the luggage service forwards "
        "them to Osaka for about 2,000 yen each.\n\nDay 7, Hiroshima. Morning train from "
        "Kyoto. Walk to the Peace Memorial Park and the museum, allowing three hours; the "
        "Atomic Bomb Dome stands across the river. In the afternoon take the JR ferry from "
        "Miyajimaguchi to Miyajima island, covered by the rail pass, to see the floating torii "
        "gate of Itsukushima shrine at high tide. Stay overnight in a ryokan on the island and "
        "eat grilled oysters, the local speciality.\n\nDay 8-10, Osaka. Street food in "
        "Dotonbori, the castle grounds, and a day at the aquarium.",
        "Hiroshima Peace Memorial and the Miyajima ferry",
        "touring the city flattened by nuclear weaponry in 1945 and a sacred arch rising from "
        "seawater",
    ),
]  # fmt: skip

# The passage a long document's queries are about, which must begin after its first chunk.
ANSWER_STARTS = {
    "staff-handbook": "## Parental leave",
    "washing-machine-manual": "## Error codes",
    "linden-court-house-rules": "## Noise",
    "japan-itinerary": "Day 7, Hiroshima",
}

# --- target images ---

_SIGNS = [
    _sign(4301, "NO SWIMMING\nSTRONG CURRENTS", "no swimming sign strong currents",
          "bathing is dangerous here because of the rip tide"),
    _sign(4302, "PHARMACY\nOPEN 24 HOURS", "pharmacy open 24 hours",
          "where can I buy medicine in the middle of the night"),
    _sign(4303, "CAUTION\nWET FLOOR", "caution wet floor sign",
          "slippery surface warning after mopping"),
    _sign(4304, "DANGER\nHIGH VOLTAGE", "danger high voltage",
          "risk of electrocution from the power equipment"),
    _sign(4305, "PLATFORM 3\nTRAINS TO BRIGHTON", "platform 3 trains to Brighton",
          "railway departures for the seaside town in Sussex"),
    _sign(4306, "FREE WIFI\nINSIDE", "free wifi sign",
          "cafe offering complimentary wireless internet"),
    _sign(4307, "EMERGENCY EXIT\nKEEP CLEAR", "emergency exit keep clear",
          "door for escaping during a fire must not be blocked"),
    _sign(4308, "CLOSED FOR\nRENOVATION", "closed for renovation",
          "shop shut while builders refurbish it"),
    _sign(4309, "FRESH EGGS\nFOR SALE", "fresh eggs for sale",
          "farm gate selling hen produce"),
    _sign(4310, "SPEED LIMIT\n20 MPH", "speed limit 20 mph",
          "how fast may I drive on this road"),
    _sign(4311, "NO SMOKING", "no smoking sign",
          "cigarettes are forbidden here"),
]  # fmt: skip

_SCENES = [
    _scene(5521, "Sunset over the lake at the cabin", ("holiday", "lake"),
           "sunset at the lake cabin", "evening glow over the water by our wooden hut"),
    _scene(5522, "Grandma's 90th birthday party", ("family", "cake"),
           "grandma birthday party", "celebrating granny turning ninety with relatives"),
    _scene(5523, "Mia's first day of school", ("kids", "school"),
           "first day of school",
           "our daughter starting in reception class with her new backpack"),
    _scene(5524, "Snowman we built in the garden", ("winter", "snow"),
           "snowman in the garden", "frosty figure the children made in the backyard"),
    _scene(5525, "Our new puppy asleep on the sofa", ("dog", "pets"),
           "new puppy asleep on the sofa", "young hound napping on the couch"),
    _scene(5526, "Wedding ceremony on the beach", ("wedding", "beach"),
           "beach wedding ceremony", "bride and groom exchanging vows by the sea"),
    _scene(5527, "Fireworks on New Year's Eve downtown", ("celebration", "night"),
           "new year fireworks",
           "rockets exploding above the city at midnight on the last day of December"),
    _scene(5528, "Pumpkins harvested from the allotment", ("autumn", "vegetables"),
           "pumpkin harvest allotment", "big squashes we grew in our plot this fall"),
    _scene(5529, "Graduation day, caps and gowns", ("university", "ceremony"),
           "graduation caps and gowns", "finishing my degree, throwing mortarboards in the air"),
    _scene(5530, "Skiing in the Alps", ("mountains", "ski"),
           "skiing in the Alps", "winter sports trip on the snowy slopes"),
    _scene(5531, "Tent pitched by the river", ("camping", "outdoors"),
           "camping tent by the river", "sleeping under canvas next to the stream"),
]  # fmt: skip


def targets() -> list[Target]:
    return [*_SHORT_DOCUMENTS, *_LONG_DOCUMENTS, *_SIGNS, *_SCENES]


# --- the checks ---


def _prefix_clash(
    query_word: str, target_words: set[str], stop_words: frozenset[str]
) -> str | None:
    """The target word ``query_word`` would meet in the lexical index, or one it derives from.

    The index matches each query word as a prefix of every indexed word ("inv" finds
    "invoice"), stop words included. The reverse (a target word that begins a query word:
    "plant" in "plants") is no match for the index but shares the word all the same; there,
    only the target's content words of three letters or more count: "s" (of "dog's") or
    "with" begin too many words to mean anything.
    """
    for word in sorted(target_words):
        if word.startswith(query_word):
            return word
        if len(word) >= 3 and word not in stop_words and query_word.startswith(word):
            return word
    return None


def paraphrase_leaks(items: list[Target], stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """One line for each paraphrase that shares a content word with its target (none: [])."""
    problems = []
    for item in items:
        target_words = set(words(item.searchable()))
        if item.is_image:
            target_words |= DESCRIBER_WORDS
        for word in dict.fromkeys(words(item.paraphrase)):
            if word in stop_words:
                continue
            clash = _prefix_clash(word, target_words, stop_words)
            if clash is not None:
                problems.append(
                    f"{item.key}: paraphrase {item.paraphrase!r} has {word!r}, which meets "
                    f"{clash!r} of the target"
                )
        if not set(words(item.exact)) - stop_words & target_words:
            problems.append(f"{item.key}: exact query {item.exact!r} shares no word with it")
    return problems


def long_document_problems(items: list[Target], chunk_chars: int = 1000) -> list[str]:
    """Long documents whose answer could fall in their first chunk (about 1,000 characters)."""
    found = {item.key: item for item in items}
    problems = []
    for key, start in ANSWER_STARTS.items():
        at = found[key].body.find(start)
        if at < chunk_chars:
            problems.append(f"{key}: its answer starts at character {at}, in the first chunk")
    return problems


# --- distractors ---

# What the generated distractors talk about: office chores, stock, weather, electronic parts,
# shipping; none of it is what a target is about (``distractor_overlaps`` checks the words).
DISTRACTOR_VOCABULARY: dict[str, tuple[str, ...]] = {
    "minutes subjects": (
        "intranet font sizes", "toner cartridge orders", "hot-desk booking tool",
        "team newsletter layout", "filing cabinet labels", "meeting room projector",
        "visitor badge printing", "lanyard colours", "stationery cupboard", "spreadsheet templates",
        "shared drive folder names", "whiteboard markers", "printer queue errors",
        "kitchen rota for the dishwasher", "desk lamp bulbs",
    ),
    "minutes findings": (
        "the current version was agreed to be hard to read", "two suppliers have sent prices",
        "a trial ran for a fortnight with mixed feedback", "nobody owns it at present",
        "most people preferred the second draft", "costs stay within the existing budget line",
        "the old supplier has stopped trading", "a survey had 41 replies",
        "it was deferred until the facilities walkthrough",
    ),
    "minutes actions": (
        "compare quotes for", "draft a proposal on", "collect feedback about", "tidy up",
        "order samples of", "update the wiki page on", "message everyone about",
    ),
    "stock items": (
        "parcel tape", "pallet wrap", "label rolls", "corner protectors", "stretch film",
        "void fill", "mailer envelopes", "kraft paper", "polypropylene strapping", "foam sheets",
        "cardboard dividers", "plastic crates", "bubble bags", "zip ties", "document wallets",
        "archive boxes",
    ),
    "weather terms": (
        "air temperature", "relative humidity", "dewpoint", "barometric pressure", "gusting",
        "precipitation", "visibility", "cloud cover", "oktas",
    ),
    "weather stations": ("Northfield", "Kestrel Hill", "Harbour Mole", "Ashby Moor", "Fenwick"),
    "parts": (
        "multilayer ceramic capacitor", "thin-film resistor", "ferrite bead", "schottky diode",
        "crystal oscillator", "linear regulator", "optocoupler", "shielded inductor",
        "n-channel MOSFET", "tvs diode", "electrolytic capacitor", "pin header",
    ),
    "part uses": (
        "decoupling on logic supplies", "signal filtering", "clock generation",
        "reverse-polarity protection", "level shifting", "surge suppression", "isolated feedback",
        "board-to-board connection",
    ),
    "manifest goods": (
        "ceramic floor tiles", "office chairs", "LED strip reels", "plastic hangers",
        "aluminium profiles", "cotton towels", "garden hose fittings", "steel shelving",
        "printer paper", "ceiling fans", "acrylic sheets",
    ),
    "manifest ports": (
        "Rotterdam", "Antwerp", "Felixstowe", "Hamburg", "Valencia", "Genoa", "Gdansk",
    ),
    "image titles": (
        "Shelf audit", "Server rack", "Loading dock", "Storeroom", "Cable tray", "Office printer",
        "Meter cupboard", "Pallet label", "Fuse board", "Photocopier", "Archive shelves",
        "Stairwell", "Plant room",
    ),
    "image tags": ("inventory", "facilities", "maintenance", "audit", "warehouse", "asset"),
}  # fmt: skip
_DOCUMENT_VOCABULARIES = (
    "minutes subjects", "minutes findings", "minutes actions", "stock items", "weather terms",
    "weather stations", "parts", "part uses", "manifest goods", "manifest ports",
)  # fmt: skip
_NAMES = (
    "Ravi", "Joanna", "Mehmet", "Claire", "Tomasz", "Aisha", "Pete", "Lin", "Gwen", "Oscar", "Noor",
)  # fmt: skip
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Distractor:
    """A generated file that should answer none of the queries."""

    key: str
    kind: Literal["document", "image"]
    filename: str
    body: str = ""  # a document's text, or the short text drawn on an image
    title: str | None = None
    tags: tuple[str, ...] = ()
    seed: int = 0  # of the image's shapes


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.choice((2022, 2023, 2024))}"


def _pick(rng: random.Random, vocabulary: str, count: int = 1) -> list[str]:
    return rng.sample(DISTRACTOR_VOCABULARY[vocabulary], count)


def _code(rng: random.Random, letters: int, digits: int) -> str:
    head = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(letters))
    return head + str(rng.randrange(10 ** (digits - 1), 10**digits))


def _minutes(rng: random.Random) -> str:
    people = rng.sample(_NAMES, rng.randint(3, 6))
    lines = [
        f"Minutes of the office services group, {_date(rng)}.",
        f"Attendees: {', '.join(people)}.",
    ]
    subjects = _pick(rng, "minutes subjects", rng.randint(3, 4))
    for number, subject in enumerate(subjects, start=1):
        first, second = _pick(rng, "minutes findings", 2)
        lines.append(f"{number}. {subject.capitalize()}: {first}; {second}.")
    for subject in subjects[:2]:
        action = _pick(rng, "minutes actions")[0]
        lines.append(f"Action: {rng.choice(people)} to {action} the {subject} by {_date(rng)}.")
    lines.append(f"Next session on {_date(rng)} in room {rng.randint(100, 499)}.")
    return "\n".join(lines)


def _stock_count(rng: random.Random) -> str:
    where = f"aisle {rng.randint(1, 24)}, bay {rng.randint(1, 12)}"
    lines = [f"Stock count, {where}, {_date(rng)}. Counted by {rng.choice(_NAMES)}."]
    for item in _pick(rng, "stock items", rng.randint(8, 12)):
        level = rng.choice((20, 40, 60, 100))
        lines.append(
            f"- {_code(rng, 2, 4)} {item}: {rng.randint(0, 480)} units (reorder level {level})"
        )
    lines.append(
        f"Discrepancies: {rng.randint(0, 4)} lines differ from the system figure; recount "
        f"booked for {_date(rng)}."
    )
    return "\n".join(lines)


def _weather_log(rng: random.Random) -> str:
    station = _pick(rng, "weather stations")[0]
    lines = [f"Weather log, {station} station, {_date(rng)}."]
    temperature = rng.uniform(-4, 24)
    for hour in range(6, 6 + 3 * rng.randint(4, 6), 3):
        temperature += rng.uniform(-1.5, 2.5)
        wind = f"{rng.choice(('N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'))} {rng.randint(0, 40)}"
        rain = rng.choice((0.0, 0.0, 0.2, 1.4, 3.8))
        lines.append(
            f"{hour:02d}:00 air temperature {temperature:.1f} C, relative humidity "
            f"{rng.randint(40, 99)} %, dewpoint {temperature - rng.uniform(1, 8):.1f} C, "
            f"barometric pressure {rng.randint(985, 1035)} hPa, wind {wind} km/h gusting "
            f"{rng.randint(10, 70)}, precipitation {rain:.1f} mm, cloud cover "
            f"{rng.randint(0, 8)} oktas."
        )
    return "\n".join(lines)


def _datasheet(rng: random.Random) -> str:
    revision = f"{rng.choice('BCDEF')}{rng.randint(1, 9)}"
    lines = [f"Datasheet summary, incoming parts for board revision {revision}."]
    for part in _pick(rng, "parts", rng.randint(2, 3)):
        size = rng.choice(("0402", "0603", "0805", "SOT-23", "SOD-123", "QFN-16", "TO-220"))
        lines.append(
            f"{_code(rng, 2, 4)}, {part}: rated {rng.choice((6.3, 16, 25, 50, 100))} V, "
            f"tolerance {rng.choice((1, 5, 10, 20))} %, operating range -40 to "
            f"{rng.choice((85, 105, 125))} C. Package {size}, supplied on reels of "
            f"{rng.choice((3000, 4000, 5000))}. Moisture sensitivity level {rng.randint(1, 3)}. "
            f"Typical use: {_pick(rng, 'part uses')[0]}."
        )
    return "\n".join(lines)


def _manifest(rng: random.Random) -> str:
    start, end = _pick(rng, "manifest ports", 2)
    vessel = rng.choice(("Aurora Star", "Nordic Crest", "Pacific Dawn", "Elbe Trader"))
    lines = [
        f"Shipping manifest, MV {vessel}, voyage {rng.randint(100, 999)}.",
        f"Port of loading: {start}. Port of discharge: {end}. ETA {_date(rng)}.",
    ]
    for goods in _pick(rng, "manifest goods", rng.randint(4, 7)):
        lines.append(
            f"Container {_code(rng, 4, 7)}: {rng.randint(40, 900)} cartons of {goods}, gross "
            f"weight {rng.randint(2000, 24000)} kg, seal {rng.randint(100000, 999999)}."
        )
    consignee = rng.choice(("Brightwell Trading", "Ostrava Supply", "Kelso & Co"))
    lines.append(f"Consignee: {consignee}.")
    return "\n".join(lines)


_GENERATORS = (_minutes, _stock_count, _weather_log, _datasheet, _manifest)


def _sign_text(rng: random.Random) -> str:
    """Short text of no meaning to anyone's question: serial, room, unit, lot numbers."""
    made = (
        f"SN {rng.randint(10000, 99999)}-{_code(rng, 2, 1)[:2]}",
        f"ROOM {rng.randint(100, 499)}",
        f"UNIT {rng.randint(1, 40)}{_code(rng, 1, 1)[0]}",
        f"LOT {rng.randint(1000, 9999)}",
        f"BAY {rng.randint(1, 60)}",
        f"REF {rng.randint(10, 99)}-{rng.randint(100, 999)}",
        f"ASSET {rng.randint(100000, 999999)}",
    )
    return rng.choice(made)


def distractors(documents: int = 150, images: int = 100, seed: int = 7) -> list[Distractor]:
    """``documents`` + ``images`` distractors, the same for the same arguments."""
    rng = random.Random(seed)
    found = []
    for number in range(documents):
        body = _GENERATORS[number % len(_GENERATORS)](rng)
        ext = rng.choice(("txt", "md"))
        found.append(Distractor(f"doc-{number}", "document", f"notes-{number:04d}.{ext}", body))
    for number in range(images):
        text = _sign_text(rng) if rng.random() < 0.4 else ""
        title: str | None = None
        tags: tuple[str, ...] = ()
        if rng.random() < 0.3:  # as a user might have labelled it
            title = f"{_pick(rng, 'image titles')[0]} {rng.randint(1, 30)}"
            tags = tuple(_pick(rng, "image tags", rng.randint(1, 2)))
        name = f"IMG_{6000 + number}.jpg" if rng.random() < 0.5 else f"scan_{number:04d}.png"
        found.append(Distractor(f"img-{number}", "image", name, text, title, tags, seed + number))
    return found


def distractor_overlaps(items: list[Target]) -> list[str]:
    """Vocabulary words of the distractors that are key words of a target's exact query, for
    the same kind of file (a distractor using them could be a right answer)."""
    problems = []
    for name, phrases in DISTRACTOR_VOCABULARY.items():
        is_image = name not in _DOCUMENT_VOCABULARIES
        vocabulary = {w for phrase in phrases for w in words(phrase)} - STOP_WORDS
        for item in items:
            if item.is_image == is_image:
                for word in sorted(vocabulary & set(words(item.exact))):
                    problems.append(
                        f"distractor vocabulary {name!r} has {word!r}, a key word of "
                        f"{item.key!r} ({item.exact!r})"
                    )
    return problems


# --- the files themselves ---


def _font_to_fit(
    draw: ImageDraw.ImageDraw, lines: list[str], width: int, largest: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = largest
    while size > 20:
        font = ImageFont.load_default(size=size)
        if all(draw.textlength(line, font=font) <= width for line in lines):
            return font
        size -= 4
    return ImageFont.load_default(size=size)


def _shapes(rng: random.Random) -> Image.Image:
    """Two bands of colour (sky and ground, of sorts) and a few random shapes on them."""
    width, height = IMAGE_SIZE
    image = Image.new("RGB", IMAGE_SIZE, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    horizon = rng.randint(height // 3, 2 * height // 3)
    draw.rectangle((0, horizon, width, height), fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randint(30, 220), rng.randint(30, 220)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        elif shape == "rectangle":
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        else:
            draw.polygon([(x, y + h), (x + w // 2, y), (x + w, y + h)], fill=colour)
    return image


def _board(image: Image.Image, text: str, rng: random.Random) -> None:
    """``text`` drawn large in black on a light board, for OCR to read."""
    width, height = IMAGE_SIZE
    draw = ImageDraw.Draw(image)
    lines = text.splitlines()
    font = _font_to_fit(draw, lines, int(width * 0.72), 72)
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    line_height = max(b[3] - b[1] for b in boxes) * 1.5
    block_width = max(b[2] - b[0] for b in boxes)
    left = (width - block_width) // 2 + rng.randint(-20, 20)
    top = int((height - line_height * len(lines)) // 2) + rng.randint(-30, 30)
    bottom = top + int(line_height * len(lines)) + 15
    draw.rectangle((left - 40, top - 35, left + block_width + 40, bottom), fill=(246, 244, 232))
    for number, line in enumerate(lines):
        draw.text((left, top + int(number * line_height)), line, fill=(12, 12, 12), font=font)


def render(item: Target | Distractor) -> bytes:
    """The bytes of the file: a document's UTF-8 text, or an encoded image."""
    if item.kind == "document":
        return item.body.encode()
    rng = random.Random(item.seed if isinstance(item, Distractor) else item.key)
    image = _shapes(rng)
    if item.body:
        _board(image, item.body, rng)
    out = io.BytesIO()
    if item.filename.endswith(".png"):
        image.save(out, "PNG")
    else:
        image.save(out, "JPEG", quality=90)
    return out.getvalue()

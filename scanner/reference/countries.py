"""Country and subdivision codes from how databases and geocoders write them.

ISO 3166-1 alpha-2 codes with their English short names (as GeoNames lists them), common
aliases ("UK", "USA", "Holland", "Czechia" …), the US states and the United Kingdom's four
countries as ISO 3166-2 subdivisions. Alpha-3 codes and demonyms ("British") are not read:
a value that is not recognised is counted as such, never guessed.

A value's meaning depends on its column: in a country column "CA" is Canada; in a state or
region column it is California (`normalise(value, role)`).
"""

from __future__ import annotations

import re

_COUNTRIES = (
    "AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla|"
    "AL Albania|AM Armenia|AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria|"
    "AU Australia|AW Aruba|AX Aland Islands|AZ Azerbaijan|BA Bosnia and Herzegovina|BB Barbados|"
    "BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi|BJ Benin|"
    "BL Saint Bartelemey|BM Bermuda|BN Brunei Darussalam|BO Bolivia|"
    "BQ Bonaire, Saint Eustatius and Saba|BR Brazil|BS Bahamas|BT Bhutan|BV Bouvet Island|"
    "BW Botswana|BY Belarus|BZ Belize|CA Canada|CC Cocos (Keeling) Islands|"
    "CD Congo, The Democratic Republic of the|CF Central African Republic|CG Congo|"
    "CH Switzerland|CI Cote d'Ivoire|CK Cook Islands|CL Chile|CM Cameroon|CN China|CO Colombia|"
    "CR Costa Rica|CU Cuba|CV Cape Verde|CW Curacao|CX Christmas Island|CY Cyprus|"
    "CZ Czech Republic|DE Germany|DJ Djibouti|DK Denmark|DM Dominica|DO Dominican Republic|"
    "DZ Algeria|EC Ecuador|EE Estonia|EG Egypt|EH Western Sahara|ER Eritrea|ES Spain|ET Ethiopia|"
    "FI Finland|FJ Fiji|FK Falkland Islands (Malvinas)|FM Micronesia, Federated States of|"
    "FO Faroe Islands|FR France|GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|"
    "GF French Guiana|GG Guernsey|GH Ghana|GI Gibraltar|GL Greenland|GM Gambia|GN Guinea|"
    "GP Guadeloupe|GQ Equatorial Guinea|GR Greece|"
    "GS South Georgia and the South Sandwich Islands|GT Guatemala|GU Guam|GW Guinea-Bissau|"
    "GY Guyana|HK Hong Kong|HM Heard Island and McDonald Islands|HN Honduras|HR Croatia|HT Haiti|"
    "HU Hungary|ID Indonesia|IE Ireland|IL Israel|IM Isle of Man|IN India|"
    "IO British Indian Ocean Territory|IQ Iraq|IR Iran, Islamic Republic of|IS Iceland|IT Italy|"
    "JE Jersey|JM Jamaica|JO Jordan|JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati|"
    "KM Comoros|KN Saint Kitts and Nevis|KP Korea, Democratic People's Republic of|"
    "KR Korea, Republic of|KW Kuwait|KY Cayman Islands|KZ Kazakhstan|"
    "LA Lao People's Democratic Republic|LB Lebanon|LC Saint Lucia|LI Liechtenstein|LK Sri Lanka|"
    "LR Liberia|LS Lesotho|LT Lithuania|LU Luxembourg|LV Latvia|LY Libyan Arab Jamahiriya|"
    "MA Morocco|MC Monaco|MD Moldova, Republic of|ME Montenegro|MF Saint Martin|MG Madagascar|"
    "MH Marshall Islands|MK Macedonia|ML Mali|MM Myanmar|MN Mongolia|MO Macao|"
    "MP Northern Mariana Islands|MQ Martinique|MR Mauritania|MS Montserrat|MT Malta|MU Mauritius|"
    "MV Maldives|MW Malawi|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia|NC New Caledonia|"
    "NE Niger|NF Norfolk Island|NG Nigeria|NI Nicaragua|NL Netherlands|NO Norway|NP Nepal|"
    "NR Nauru|NU Niue|NZ New Zealand|OM Oman|PA Panama|PE Peru|PF French Polynesia|"
    "PG Papua New Guinea|PH Philippines|PK Pakistan|PL Poland|PM Saint Pierre and Miquelon|"
    "PN Pitcairn|PR Puerto Rico|PS Palestinian Territory|PT Portugal|PW Palau|PY Paraguay|"
    "QA Qatar|RE Reunion|RO Romania|RS Serbia|RU Russian Federation|RW Rwanda|SA Saudi Arabia|"
    "SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore|SH Saint Helena|"
    "SI Slovenia|SJ Svalbard and Jan Mayen|SK Slovakia|SL Sierra Leone|SM San Marino|SN Senegal|"
    "SO Somalia|SR Suriname|SS South Sudan|ST Sao Tome and Principe|SV El Salvador|"
    "SX Sint Maarten|SY Syrian Arab Republic|SZ Swaziland|TC Turks and Caicos Islands|TD Chad|"
    "TF French Southern Territories|TG Togo|TH Thailand|TJ Tajikistan|TK Tokelau|TL Timor-Leste|"
    "TM Turkmenistan|TN Tunisia|TO Tonga|TR Turkey|TT Trinidad and Tobago|TV Tuvalu|TW Taiwan|"
    "TZ Tanzania, United Republic of|UA Ukraine|UG Uganda|"
    "UM United States Minor Outlying Islands|US United States|UY Uruguay|UZ Uzbekistan|"
    "VA Holy See (Vatican City State)|VC Saint Vincent and the Grenadines|VE Venezuela|"
    "VG Virgin Islands, British|VI Virgin Islands, U.S.|VN Vietnam|VU Vanuatu|"
    "WF Wallis and Futuna|WS Samoa|XK Kosovo|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia|"
    "ZW Zimbabwe"
)

NAMES: dict[str, str] = dict(
    (entry[:2], entry[3:]) for entry in "".join(_COUNTRIES).split("|")
)  # alpha-2 -> English name
ALPHA2 = frozenset(NAMES)

_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "america": "US",
    "the netherlands": "NL",
    "holland": "NL",
    "czechia": "CZ",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "vietnam": "VN",
    "viet nam": "VN",
    "moldova": "MD",
    "tanzania": "TZ",
    "bolivia": "BO",
    "venezuela": "VE",
    "macedonia": "MK",
    "north macedonia": "MK",
    "ivory coast": "CI",
    "côte d'ivoire": "CI",
    "eswatini": "SZ",
    "cabo verde": "CV",
    "türkiye": "TR",
    "turkiye": "TR",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "palestine": "PS",
    "libya": "LY",
    "brunei": "BN",
    "micronesia": "FM",
    "democratic republic of the congo": "CD",
    "dr congo": "CD",
    "republic of the congo": "CG",
    "hong kong sar": "HK",
    "macau": "MO",
    "deutschland": "DE",
    "españa": "ES",
    "italia": "IT",
    "österreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "éire": "IE",
}

US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
GB_NATIONS = {
    "england": "GB-ENG",
    "scotland": "GB-SCT",
    "wales": "GB-WLS",
    "northern ireland": "GB-NIR",
}

_BY_NAME = {name.casefold(): code for code, name in NAMES.items()} | _ALIASES
_STATE_BY_NAME = {name.casefold(): code for code, name in US_STATES.items()} | {
    "washington, d.c.": "DC",
    "washington dc": "DC",
}
_SUBDIVISION = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")


def country_code(value: str) -> str | None:
    """Alpha-2 code of a country value ("gb", "United Kingdom", "UK"), or None."""
    text = " ".join(value.split())
    if len(text) == 2 and text.upper() in ALPHA2:
        return text.upper()
    return _BY_NAME.get(text.casefold())


def region_code(value: str) -> tuple[str, str] | None:
    """(country, ISO 3166-2 code) of a region value: "US-IL", "IL", "Illinois", "Scotland"."""
    text = " ".join(value.split())
    m = _SUBDIVISION.match(text.upper())
    if m and m[1] in ALPHA2:
        return m[1], text.upper()
    if len(text) == 2 and text.upper() in US_STATES:
        return "US", "US-" + text.upper()
    folded = text.casefold()
    if folded in _STATE_BY_NAME:
        return "US", "US-" + _STATE_BY_NAME[folded]
    if folded in GB_NATIONS:
        return "GB", GB_NATIONS[folded]
    return None


def us_state_code(name: str) -> str | None:
    """ISO 3166-2 code of a US state named in full ("Illinois" -> "US-IL")."""
    code = _STATE_BY_NAME.get(" ".join(name.split()).casefold())
    return f"US-{code}" if code else None


def normalise(value: object, role: str) -> tuple[str, str | None] | None:
    """(country, region or None) of a stored value, read as `role` ("country" or "region")."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if role == "country":
        nation = GB_NATIONS.get(text.casefold())
        if nation is not None:
            return "GB", nation
        code = country_code(text)
        if code is not None:
            return code, None
        if not _SUBDIVISION.match(text.upper()):
            return None  # "IL" in a country column is Israel, never Illinois
    return region_code(text)


def format_counts(entries: list[tuple[str, str | None, int]]) -> str:
    """`GB:3,FR:2,US-IL:4`: places and their row counts, as an evidence detail carries them."""
    return ",".join(f"{region or country}:{count}" for country, region, count in entries)


def parse_counts(text: str) -> list[tuple[str, str | None, int]]:
    """The inverse of format_counts; malformed entries are skipped."""
    out: list[tuple[str, str | None, int]] = []
    for entry in text.split(","):
        code, _, count = entry.strip().rpartition(":")
        if not count.isdigit():
            continue
        if code.upper() in ALPHA2:
            out.append((code.upper(), None, int(count)))
        elif (m := _SUBDIVISION.match(code.upper())) and m[1] in ALPHA2:
            out.append((m[1], code.upper(), int(count)))
    return out

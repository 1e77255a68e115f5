#!/usr/bin/env python3
"""Writes vectors.json: compressed GS1 Digital Links made by an independent implementation.

The compressed strings come from the PyPI package `gs1-compression` (see README.md for the exact
version and how to run this script). This script only chooses the links, builds their
uncompressed URIs, asks the package for the compressed form and reads each compressed form back
with the package's own decoder, recording whether that decoder returns the values it was given.

Each link is described as data (path pairs, data attributes, other parameters) so that the
package's URI parser, which has known bugs, is not involved: its compressor is called on the
application identifier dictionary directly.
"""

import json
import sys
from urllib.parse import quote

from gs1.compress.build_compressed_gs1_digital_link import compress_gs1_ai_array_to_binary
from gs1.compress.encode_binary_value import binary_encoding_gs1_ai_key, binary_encoding_value
from gs1.compress.utils import find_best_optimization_candidate, find_candidates_from_table_opt
from gs1.constants import TABLE_F, TABLE_OPT
from gs1.decompress.binary_to_gs1_ai_array import decompress_binary_to_gs1_array
from gs1.utils import base64_to_str, binary_to_base64

CANONICAL = "https://id.gs1.org"

# Characters the uncompressed URIs write as %xx (the set `epcis` writes that way).
ESCAPED = '!"#%&()*+,/:<>?'


def check_digit(digits):
    """The GS1 mod-10 check digit of `digits`."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += int(d) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def key(digits):
    """`digits` followed by their check digit."""
    return digits + check_digit(digits)


def escape(value):
    return "".join("%{:02X}".format(ord(c)) if c in ESCAPED else c for c in value)


def case(path, attributes=(), others=(), base=CANONICAL, note=""):
    return {"base": base, "path": list(path), "attributes": list(attributes),
            "others": list(others), "note": note}


GTIN = "09780345418913"
GTIN2 = "05412345000013"
CASES = [
    case([("01", GTIN)], note="a GTIN alone (the example of the GS1 toolkits)"),
    case([("01", GTIN2), ("21", "12345")], note="serial: digits"),
    case([("01", GTIN2), ("21", "0012")], note="serial: digits with a leading zero"),
    case([("01", GTIN2), ("21", "0")], note="serial: the single digit zero"),
    case([("01", GTIN2), ("10", "ABC123"), ("21", "abc")], note="lot upper-case hex, serial lower-case hex"),
    case([("01", GTIN2), ("22", "AJY3095721P49"), ("10", "ABC&+123"), ("21", "72292641703")],
         note="CPV base64url, lot 7-bit ASCII, serial digits"),
    case([("01", GTIN2), ("10", "LOT-7_b")], note="lot: base64url with - and _"),
    case([("01", GTIN2), ("21", "!\"%&'()*+,-./:;<=>?_")], note="serial: 20 punctuation characters"),
    case([("01", GTIN2), ("21", "X")], note="serial: one letter"),
    case([("01", GTIN2), ("21", "12345678901234567890")], note="serial: 20 digits"),
    case([("01", GTIN2), ("21", "abcdefABCDEF")], note="serial: mixed-case hex (base64url)"),
    case([("01", GTIN2), ("10", "AB12"), ("21", "S1")], attributes=[("17", "251231")],
         note="lot, serial, expiry (optimisation 1A)"),
    case([("01", GTIN2), ("10", "B7")], attributes=[("15", "260630")], note="lot and best before (1F)"),
    case([("01", GTIN2)], attributes=[("17", "291231")], note="expiry (0D)"),
    case([("01", GTIN2)], attributes=[("11", "240101"), ("17", "251231")],
         note="production date and expiry: two optimisations tie"),
    case([("01", GTIN2)], attributes=[("3103", "000195")], note="net weight (2D)"),
    case([("01", GTIN2)], attributes=[("15", "260101"), ("17", "261231"), ("3103", "001250")],
         note="three attributes, the measure wins the optimisation"),
    case([("01", GTIN2)], attributes=[("7003", "2503061658")], note="expiration date and time (0E)"),
    case([("01", GTIN2)], attributes=[("30", "12")], note="variable count (0F)"),
    case([("01", GTIN2)], attributes=[("30", "00012")], note="variable count with leading zeros"),
    case([("01", GTIN2)], attributes=[("16", "250101")], note="sell by (1D)"),
    case([("01", GTIN2)], attributes=[("11", "231130")], note="production date (1C)"),
    case([("01", GTIN2), ("22", "V2")], note="CPV alone (0A)"),
    case([("01", GTIN2), ("10", "L1")], note="lot alone (0B)"),
    case([("01", GTIN2), ("21", "S1")], note="serial alone (0C)"),
    case([("01", GTIN2)], attributes=[("3102", "000500"), ("3205", "123456")], note="two measures"),
    case([("01", GTIN2)], attributes=[("12", "250101"), ("13", "240202"), ("20", "07"),
                                      ("240", "ADD-ID_1"), ("241", "cust/part-2"),
                                      ("242", "123"), ("243", "PCN-9"), ("250", "SER2"),
                                      ("251", "REF1"), ("37", "48"), ("422", "276"),
                                      ("7006", "250315")],
         note="many data attributes"),
    case([("00", key("10614141123456789"))], note="SSCC"),
    case([("414", key("506091751000"))], note="GLN"),
    case([("414", key("506091751000")), ("254", "RP56J920471")], note="GLN and extension (9D)"),
    case([("414", key("061414107346")), ("254", "0")], note="GLN extension zero"),
    case([("8003", "04012345000221334455")], note="GRAI with serial"),
    case([("8003", key("0401234566666"))], note="GRAI without serial"),
    case([("8004", "4012345ABC345")], note="GIAI"),
    case([("8004", "0541234537290A41&GHpp33")], note="GIAI with punctuation"),
    case([("8006", key("0401234511111") + "0102"), ("21", "987")], note="ITIP and serial"),
    case([("8006", key("0541234500001") + "0201"), ("22", "AJY3095721P49"), ("10", "ABC123"),
          ("21", "72292641703")], note="ITIP and all its qualifiers"),
    case([("8010", "061414111111111111111-A#/"), ("8011", "1234")], note="CPID and serial (9A)"),
    case([("8010", "4012345ABC")], note="CPID"),
    case([("8017", key("40123450000000007")), ("8019", "4003812")], note="GSRN-P and SRIN (9B)"),
    case([("8018", key("40123450000006765")), ("8019", "0012")], note="GSRN and SRIN with a leading zero (9C)"),
    case([("253", key("401234500009") + "PO-4711")], note="GDTI with serial"),
    case([("253", key("401234555555"))], note="GDTI without serial"),
    case([("255", key("401234599999") + "044")], note="GCN with a serial with a leading zero"),
    case([("255", key("401234599999"))], note="GCN without serial"),
    case([("255", key("401234599999") + "12345")], note="GCN with serial"),
    case([("401", "0614141xyz47/11")], note="GINC"),
    case([("402", key("4012345222333444"))], note="GSIN"),
    case([("01", GTIN2), ("10", "ABC")], base="https://example.com/shop/dl", note="a custom domain with a path prefix"),
    case([("01", GTIN2)], base="http://example.org", note="http"),
    case([("01", GTIN2)], attributes=[("17", "251231")], others=[("linkType", "gs1:pip")],
         note="a non-GS1 parameter, packed into the segment"),
    case([("01", GTIN2)], others=[("k1", "v1"), ("context", "123"), ("lang", "abc")],
         note="non-GS1 parameters in several encodings"),
]

PARTIAL = [
    case([("01", GTIN2), ("10", "ABC123")], note="partially compressed: GTIN and lot"),
    case([("414", key("506091751000")), ("254", "RP56J920471")], note="partially compressed: GLN"),
    case([("8006", key("0541234500001") + "0201"), ("21", "72292641703")],
         note="partially compressed: ITIP"),
]


def uncompressed(c):
    path = "".join("/{}/{}".format(ai, escape(v)) for ai, v in c["path"])
    query = ["{}={}".format(ai, escape(v)) for ai, v in c["attributes"]]
    query += ["{}={}".format(k, quote(v, safe=":")) for k, v in c["others"]]
    return c["base"] + path + ("?" + "&".join(query) if query else "")


def ai_values(c):
    return dict(c["path"] + c["attributes"])


def optimised_binary(values, others):
    """The package's choice of optimisation codes, applied as its compressor means to.

    `compress_gs1_ai_array_to_binary(..., use_optimizations=True, ...)` of gs1-compression 0.1.3
    fails (it treats the lists of its optimisation table as dictionaries), so the same steps are
    taken here with the package's own functions: pick the candidate the package picks, encode its
    code and values, then every other AI in ascending order, then the non-GS1 pairs.
    """
    keys = sorted(values)
    chosen = []
    while True:
        best = find_best_optimization_candidate(find_candidates_from_table_opt(keys))
        if not best:
            break
        chosen.append(best)
        keys = [k for k in keys if k not in TABLE_OPT[best]]
    bits = ""
    for code in chosen:
        bits += binary_encoding_gs1_ai_key(code)
        bits += "".join(binary_encoding_value(values, ai) for ai in TABLE_OPT[code])
    bits += "".join(binary_encoding_gs1_ai_key(k) + binary_encoding_value(values, k) for k in keys)
    bits += compress_gs1_ai_array_to_binary({}, False, others)
    return bits, chosen


def read_back(segment):
    """What the package's decoder reads from a segment, or the error it raises."""
    try:
        return decompress_binary_to_gs1_array(base64_to_str(segment)), None
    except Exception as e:  # the package raises ValueError, KeyError, ...
        return None, "{}: {}".format(type(e).__name__, e)


def record(c, segment, form, optimisation, expected):
    decoded, error = read_back(segment)
    lossless = decoded == expected
    prefix = c["base"]
    if form == "partial":
        ai, value = c["path"][0]
        prefix += "/{}/{}".format(ai, escape(value))
    compressed = prefix + "/" + segment
    return {
        "uncompressed": uncompressed(c),
        "compressed": compressed,
        "form": form,
        "optimisation": optimisation,
        "reference_reads_back": lossless,
        "reference_error": error,
        # Whether `epcis::digital_link::compress` must write this very string: a full
        # compression with the optimisation code the package chooses, no non-GS1 parameter
        # (epcis leaves those in the query string) and no all-digit text value with a leading
        # zero (epcis writes those as hexadecimal; see README.md).
        "byte_exact": form == "full" and not c["others"] and (
            optimisation is not None or not optimisable(c)) and not text_with_leading_zero(c),
        "note": c["note"],
    }


def text_with_leading_zero(c):
    """Whether an alphanumeric component of a value is two or more digits starting with 0."""
    for ai, value in c["path"] + c["attributes"]:
        cursor = 0
        for component in TABLE_F[ai]:
            if "L" in component:
                part = value[cursor:cursor + int(component["L"])]
            else:
                part = value[cursor:]
            cursor += len(part)
            if component["E"] == "X" and part.isdigit() and len(part) > 1 and part[0] == "0":
                return True
    return False


def optimisable(c):
    return bool(find_best_optimization_candidate(find_candidates_from_table_opt(sorted(ai_values(c)))))


def main():
    vectors = []
    for c in CASES:
        values = ai_values(c)
        others = dict(c["others"])
        expected = dict(values)
        expected.update(others)
        try:
            plain = binary_to_base64(compress_gs1_ai_array_to_binary(values, False, others))
        except ValueError as e:
            # e.g. a GCN without serial: the package cannot encode an empty numeric component.
            sys.stderr.write("skipped ({}): {}: {}\n".format(c["note"], type(e).__name__, e))
            continue
        vectors.append(record(c, plain, "full", None, expected))
        bits, chosen = optimised_binary(values, others)
        if chosen:
            vectors.append(record(c, binary_to_base64(bits), "full", "".join(chosen), expected))
    for c in PARTIAL:
        values = ai_values(c)
        primary = c["path"][0][0]
        rest = {k: v for k, v in values.items() if k != primary}
        segment = binary_to_base64(compress_gs1_ai_array_to_binary(rest, False, {}))
        vectors.append(record(c, segment, "partial", None, rest))
    json.dump(vectors, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

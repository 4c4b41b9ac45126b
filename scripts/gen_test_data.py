#!/usr/bin/env python3
"""Generates the small deterministic data files in test/data/.

Run once from the repository root with the project's venv; the outputs are
committed, so tests never depend on this script running:

    .venv/bin/python scripts/gen_test_data.py

Files:
  orders.csv            200 orders: id, city, amount, qty, ordered_at, day,
                        customer_id, status (NULLs and empty strings in status,
                        NULLs in amount)
  customers.csv         customers 1..65 with some ids missing (outer joins)
  orders.ndjson         the same orders as JSON lines, plus a nested object
                        (shipping) and a list (tags)
  orders.json           the same as one JSON array
  orders.parquet        the flat columns, typed (no nested fields)
  orders.arrow          the same as an Arrow IPC file
  orders_semicolon.csv  first 20 orders, id;city;amount, ';' delimited
  orders_noheader.csv   first 20 orders, id,city,qty without a header line
  orders_na.csv         first 20 orders, id,city,amount with 'NA' for missing
  malformed.csv         a row with too many fields at line 151
  malformed.ndjson      a broken JSON line at line 51
"""
import csv
import datetime as dt
import json
import os
import random

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "data")
CITIES = ["Berlin", "Paris", "London", "Madrid", "Rome", "Lisbon", "Vienna", "Oslo"]
STATUSES = ["shipped", "pending", "cancelled", "returned"]
TAGS = ["gift", "express", "fragile", "bulk", "promo"]
COUNTRIES = ["DE", "FR", "UK", "ES", "IT", "PT"]
FIRST = ["Ada", "Bob", "Chloé", "Dan", "Eve", "Fay", "Gus", "Hana", "Ivan", "Jo"]
LAST = ["Smith", "Müller", "Dubois", "García", "Rossi", "O'Neil", "Lee", "Novak"]
MISSING_CUSTOMERS = {7, 13, 21, 34, 50}


def make_orders(rng):
    start = dt.datetime(2024, 1, 1)
    rows = []
    for i in range(1, 201):
        ts = start + dt.timedelta(seconds=rng.randrange(0, 366 * 86400))
        if i % 37 == 0:
            amount = None
        else:
            amount = round(rng.uniform(1, 500), 2)
        r = rng.random()
        if i % 19 == 0:
            status = None
        elif i % 41 == 0:
            status = ""
        else:
            status = STATUSES[int(r * len(STATUSES))]
        ntags = rng.randrange(0, 3)
        tags = sorted(rng.sample(TAGS, ntags))
        city = CITIES[rng.randrange(len(CITIES))]
        shipping = None if i % 23 == 0 else {
            "zip": "%05d" % rng.randrange(10000, 99999),
            "express": rng.random() < 0.3,
        }
        rows.append({
            "id": i,
            "city": city,
            "amount": amount,
            "qty": rng.randrange(1, 11),
            "ordered_at": ts,
            "day": ts.date(),
            "customer_id": rng.randrange(1, 61),
            "status": status,
            "shipping": shipping,
            "tags": tags,
        })
    return rows


def make_customers(rng):
    rows = []
    for i in range(1, 66):
        if i in MISSING_CUSTOMERS:
            continue
        name = "%s %s" % (FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))])
        if i == 3:
            name = "Smith, John"  # a comma inside a quoted field
        if i == 4:
            name = 'Jo "JJ" Novak'  # escaped quotes
        signup = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(0, 500))
        rows.append({"id": i, "name": name, "country": COUNTRIES[rng.randrange(len(COUNTRIES))],
                     "signup": signup})
    return rows


FLAT = ["id", "city", "amount", "qty", "ordered_at", "day", "customer_id", "status"]


def csv_value(v):
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def write_orders_csv(rows, path):
    # Written by hand: NULL is an empty unquoted field, the empty string is "".
    with open(path, "w", newline="") as f:
        f.write(",".join(FLAT) + "\n")
        for r in rows:
            fields = []
            for c in FLAT:
                v = r[c]
                if c == "status" and v == "":
                    fields.append('""')
                else:
                    fields.append(csv_value(v))
            f.write(",".join(fields) + "\n")


def json_row(r):
    out = {}
    for k, v in r.items():
        if isinstance(v, dt.datetime):
            v = v.strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(v, dt.date):
            v = v.isoformat()
        out[k] = v
    return out


def orders_table(rows):
    return pa.table({
        "id": pa.array([r["id"] for r in rows], pa.int64()),
        "city": pa.array([r["city"] for r in rows], pa.string()),
        "amount": pa.array([r["amount"] for r in rows], pa.float64()),
        "qty": pa.array([r["qty"] for r in rows], pa.int64()),
        "ordered_at": pa.array([r["ordered_at"] for r in rows], pa.timestamp("us")),
        "day": pa.array([r["day"] for r in rows], pa.date32()),
        "customer_id": pa.array([r["customer_id"] for r in rows], pa.int64()),
        "status": pa.array([r["status"] for r in rows], pa.string()),
    })


def main():
    rng = random.Random(20240101)
    os.makedirs(OUT, exist_ok=True)
    orders = make_orders(rng)
    customers = make_customers(rng)

    write_orders_csv(orders, os.path.join(OUT, "orders.csv"))
    with open(os.path.join(OUT, "customers.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "name", "country", "signup"])
        for c in customers:
            w.writerow([c["id"], c["name"], c["country"], c["signup"].isoformat()])

    with open(os.path.join(OUT, "orders.ndjson"), "w") as f:
        for r in orders:
            f.write(json.dumps(json_row(r), ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "orders.json"), "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(json_row(r), ensure_ascii=False) for r in orders))
        f.write("\n]\n")

    table = orders_table(orders)
    pq.write_table(table, os.path.join(OUT, "orders.parquet"), compression="zstd",
                   row_group_size=64)
    with ipc.new_file(os.path.join(OUT, "orders.arrow"), table.schema) as w:
        w.write_table(table, max_chunksize=64)

    first = orders[:20]
    with open(os.path.join(OUT, "orders_semicolon.csv"), "w") as f:
        f.write("id;city;amount\n")
        for r in first:
            f.write("%d;%s;%s\n" % (r["id"], r["city"], csv_value(r["amount"])))
    with open(os.path.join(OUT, "orders_noheader.csv"), "w") as f:
        for r in first:
            f.write("%d,%s,%d\n" % (r["id"], r["city"], r["qty"]))
    with open(os.path.join(OUT, "orders_na.csv"), "w") as f:
        f.write("id,city,amount\n")
        for i, r in enumerate(first):
            amount = "NA" if i % 4 == 1 else csv_value(r["amount"])
            city = "NA" if i % 5 == 2 else r["city"]
            f.write("%d,%s,%s\n" % (r["id"], city, amount))

    with open(os.path.join(OUT, "malformed.csv"), "w") as f:
        f.write("id,city,qty\n")
        for r in orders:
            if r["id"] == 150:
                f.write("%d,%s,%d,unexpected,extra\n" % (r["id"], r["city"], r["qty"]))
            else:
                f.write("%d,%s,%d\n" % (r["id"], r["city"], r["qty"]))
    with open(os.path.join(OUT, "malformed.ndjson"), "w") as f:
        for r in orders[:100]:
            if r["id"] == 51:
                f.write('{"id": 51, "city": "Rome", "qty": \n')
            else:
                f.write(json.dumps({"id": r["id"], "city": r["city"], "qty": r["qty"]}) + "\n")


if __name__ == "__main__":
    main()

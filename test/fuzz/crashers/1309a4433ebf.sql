-- no answer within 20 s
SELECT NULL FROM 'test/data/orders.csv' WHERE lpad(lpad(NULL, round(amount, (SELECT max(ordered_at) FROM 'test/data/orders.csv')), 'ab'), (coalesce(-0.0, DATE '2024-02-29') * DATE '2024-02-29'), 'ab') LIMIT 5

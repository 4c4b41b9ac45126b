-- aborted: concat with a NULL argument
SELECT concat(city, NULL, 'x') FROM 'test/data/orders.csv' LIMIT 3

-- aborted: a bare WHERE NULL tripped an Arrow check after the header printed
SELECT id FROM 'test/data/orders.csv' WHERE NULL

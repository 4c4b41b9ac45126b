-- aborted: a float literal outside the double range
SELECT 1e400, 1e-400

-- wrk script: POST the benchmark query as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ items(first: 100) { id name price category inStock warehouse } }"}'

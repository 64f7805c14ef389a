-- wrk: POST /echo with the 200-byte JSON body, keep-alive.
local f = io.open(os.getenv("BODY") or "body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
if os.getenv("CLOSE") == "1" then
  -- one request per connection: the server closes, wrk reconnects (a full
  -- TLS 1.3 handshake each time: wrk keeps no session to resume)
  wrk.headers["Connection"] = "close"
end

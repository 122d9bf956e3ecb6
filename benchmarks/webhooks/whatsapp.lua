-- One WhatsApp Cloud API ``messages`` notification per request (Meta's shape: entry/changes/value
-- with metadata, contacts and one text message), with a unique wamid and its
-- X-Hub-Signature-256 computed here (hmac_sha256.lua is loaded before this file).
local path = os.getenv("WH_PATH") or "/api/v1/webhooks/whatsapp"
local secret = os.getenv("WH_SECRET") or ""
local pnid = os.getenv("WH_PNID") or "109876543210987"
local base = tonumber(os.getenv("WH_BASE") or "500000000")
local headers = { ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = "" }
local people = {
  { "5511987654321", "Ana Souza" },
  { "5521998877665", "Bruno Lima" },
  { "5531991234567", "Carla Mendes" },
  { "5491155550000", "Diego Fernández" },
  { "447700900123", "Emma Clarke" },
}
local texts = {
  "pix 50 reais para o João",
  "manda 120,50 pro Bruno pelo pix",
  "send 20 USD to Maria",
  "quanto eu devo para a Ana?",
  "transfiere 30 euros a Pedro",
  "status do meu último pagamento",
}
local fmt = '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":' ..
  '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},' ..
  '"contacts":[{"profile":{"name":"%s"},"wa_id":"%s"}],"messages":[{"from":"%s",' ..
  '"id":"wamid.HBgN%sFQIAEhggQkVOQ0g%012X","timestamp":"%d","text":{"body":"%s"},"type":"text"}]},' ..
  '"field":"messages"}]}]}'

function init(args)
  base = base + tid * 1000000
end

function request()
  sent = sent + 1
  local p = people[sent % #people + 1]
  local text = texts[(sent * 5) % #texts + 1]
  local body = string.format(fmt, pnid, p[2], p[1], p[1], p[1], base + sent, os.time(), text)
  headers["X-Hub-Signature-256"] = "sha256=" .. hmac_sha256_hex(secret, body)
  return wrk.format("POST", path, headers, body)
end

-- One Telegram Bot API ``Update`` per request (official shape: update_id + message with
-- from/chat/date/text), authenticated by X-Telegram-Bot-Api-Secret-Token.
-- update_id = WH_BASE + thread * 1e6 + n: unique across threads and load levels.
local path = os.getenv("WH_PATH") or "/api/v1/webhooks/telegram"
local headers = {
  ["Content-Type"] = "application/json",
  ["X-Telegram-Bot-Api-Secret-Token"] = os.getenv("WH_SECRET") or "",
}
local base = tonumber(os.getenv("WH_BASE") or "500000000")
local people = {
  { 184662301, "Ana", "Souza", "anasouza", "pt-br" },
  { 290771455, "Bruno", "Lima", "brunolima", "pt-br" },
  { 377120988, "Carla", "Mendes", "carlam", "pt-br" },
  { 451239077, "Diego", "Fernández", "diegof", "es" },
  { 562004113, "Emma", "Clarke", "emmac", "en" },
  { 603998245, "Felipe", "Rocha", "feliper", "pt-br" },
  { 718842310, "Greta", "Müller", "gretam", "de" },
}
local texts = {
  "pix 50 reais para o João",
  "manda 120,50 pro Bruno pelo pix",
  "send 20 USD to Maria",
  "quanto eu devo para a Ana?",
  "divide 240 reais do jantar com @brunolima e @carlam",
  "transfiere 30 euros a Pedro",
  "paga o boleto de luz amanhã",
  "status do meu último pagamento",
}
local fmt = '{"update_id":%.0f,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,' ..
  '"first_name":"%s","last_name":"%s","username":"%s","language_code":"%s"},' ..
  '"chat":{"id":%d,"first_name":"%s","last_name":"%s","username":"%s","type":"private"},' ..
  '"date":%d,"text":"%s"}}'

function init(args)
  base = base + tid * 1000000
end

function request()
  sent = sent + 1
  local p = people[sent % #people + 1]
  local text = texts[(sent * 3) % #texts + 1]
  local body = string.format(fmt, base + sent, 1000 + sent, p[1], p[2], p[3], p[4], p[5],
    p[1], p[2], p[3], p[4], os.time(), text)
  return wrk.format("POST", path, headers, body)
end

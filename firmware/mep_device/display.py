# The in-home display: a console line every console_interval_s on any board, and where
# the board has a network (ESP32, host) a small web page served by the device itself
# with the asyncio socket API. The page fetches /api/state every 2 s and redraws in
# place (no reload); POST /api/override?setpoint_c=X&hours=H is the customer's override.

import asyncio
import json
import status

_MAX_REQUEST_LINE = 512
_MAX_HEADERS = 32

PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>In-home display</title>
<style>body{font-family:sans-serif;margin:1em;max-width:40em}td{padding:2px 8px}
.big{font-size:2em}#link.down{color:#b00}</style></head>
<body><h1>Meter <span id="meter_id">-</span> <small id="link">-</small></h1>
<p class="big"><span id="power">-</span> W</p>
<table>
<tr><td>Today</td><td><span id="today">-</span> Wh</td></tr>
<tr><td>Tariff</td><td id="tariff">-</td></tr>
<tr><td>Voltage</td><td><span id="voltage">-</span> V</td></tr>
<tr><td>Import / export</td><td><span id="import">-</span> / <span id="export">-</span> Wh</td></tr>
<tr><td>Thermostat</td><td><span id="setpoint">-</span> &deg;C</td></tr>
</table>
<h2>Messages</h2><ul id="messages"></ul>
<h2>M-Bus meters</h2><ul id="mbus"></ul>
<p><small>updated <span id="updates">0</span> times</small></p>
<script>
// EN 13757-3 medium codes (the M-Bus device header), as words.
var MEDIA={0:"other",1:"oil",2:"electricity",3:"gas",4:"heat",5:"steam",6:"warm water",7:"water",
 8:"heat cost allocator",9:"compressed air",10:"cooling",11:"cooling",12:"heat",13:"heat/cooling",
 14:"bus/system",15:"unknown",21:"hot water",22:"cold water",23:"dual water",24:"pressure",25:"A/D converter"};
function mbusLine(d){var m=MEDIA[d.medium];
 return (m===undefined?"medium "+d.medium:m)+" meter "+d.id+(d.manufacturer?" ("+d.manufacturer+")":" (not read yet)");}
function set(id, v){document.getElementById(id).textContent = (v === null || v === undefined) ? "-" : v;}
function list(id, items){var ul=document.getElementById(id);ul.innerHTML="";
 items.forEach(function(t){var li=document.createElement("li");li.textContent=t;ul.appendChild(li);});}
async function refresh(){
 try{var r=await fetch("/api/state",{cache:"no-store"});var s=await r.json();
 var rt=s.realtime||{};set("meter_id",s.meter_id);set("link",s.link);
 document.getElementById("link").className=s.link;
 set("power",rt.p_w);set("voltage",rt.vrms);set("import",rt.import_wh);set("export",rt.export_wh);
 set("today",s.today_wh);set("tariff",s.tariff.name===null?null:s.tariff.name+" ("+s.tariff.price+"/kWh)");
 set("setpoint",s.thermostat?s.thermostat.setpoint_c:null);set("updates",s.updates);
 list("messages",s.messages.map(function(m){return (m.urgent?"! ":"")+m.text;}));
 list("mbus",s.mbus.devices.map(mbusLine));
 }catch(e){set("link","display offline");}
}
refresh();setInterval(refresh,2000);
</script></body></html>
"""


class Display:
    def __init__(self, store, cfg, clock, thermostat=None, log=None):
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.thermostat = thermostat
        self.log = log
        self.awake = True
        self.requests = 0
        self.bad_requests = 0
        self.port = None  # the bound TCP port once serving

    def receive(self, kind, payload):
        if kind == "message":
            status.emit("display_message", {"t": self.clock.time_s(), "text": _text(payload)})

    def state(self):
        s = self.store.snapshot()
        s["thermostat"] = self.thermostat.state() if self.thermostat is not None else None
        return s

    def console_line(self):
        s = self.store.snapshot()
        rt = s["realtime"] or {}
        return {"t": self.clock.time_s(), "link": s["link"], "p_w": rt.get("p_w"), "today_wh": s["today_wh"],
                "tariff": s["tariff"]["name"], "messages": len(s["messages"]),
                "mbus_meters": len(s["mbus"]["devices"]),
                "setpoint_c": self.thermostat.setpoint_c if self.thermostat is not None else None}

    async def console_task(self, progress):
        while True:
            await self.clock.sleep_ms(self.cfg["console_interval_s"] * 1000)
            status.emit("display", self.console_line())
            progress()

    async def serve(self, host, port):
        """Start the web server; returns the server (its port is in self.port)."""
        server = await asyncio.start_server(self._client, host, port)
        self.port = port
        try:
            self.port = server.sockets[0].getsockname()[1]  # CPython: the port bound (port 0)
        except (AttributeError, IndexError):
            pass
        return server

    async def web_task(self, progress):
        cfg = self.cfg
        server = await self.serve(cfg["http_host"], cfg["http_port"])
        status.emit("display_web", {"url": "http://%s:%d/" % (cfg["http_host"], self.port)})
        try:
            while True:
                await self.clock.sleep_ms(60000)
                progress()
        finally:
            server.close()

    async def _client(self, reader, writer):
        try:
            line = await reader.readline()
            if len(line) > _MAX_REQUEST_LINE:
                raise ValueError("request line too long")
            for _ in range(_MAX_HEADERS):
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
            parts = line.decode().split()
            if len(parts) < 2:
                raise ValueError("bad request line")
            code, ctype, body = self.route(parts[0], parts[1])
            self.requests += 1
        except (ValueError, UnicodeError, OSError):
            self.bad_requests += 1
            code, ctype, body = "400 Bad Request", "text/plain", b"bad request\n"
        try:
            writer.write(("HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n"
                          "Connection: close\r\n\r\n" % (code, ctype, len(body))).encode())
            writer.write(body)
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, AttributeError):
                pass

    def route(self, method, target):
        path, _, query = target.partition("?")
        if method == "GET" and path == "/":
            return "200 OK", "text/html; charset=utf-8", PAGE
        if method == "GET" and path == "/api/state":
            return "200 OK", "application/json", json.dumps(self.state()).encode()
        if method == "POST" and path == "/api/override" and self.thermostat is not None:
            args = {}
            for pair in query.split("&"):
                k, _, v = pair.partition("=")
                args[k] = v
            setpoint = float(args.get("setpoint_c", ""))
            hours = float(args.get("hours", "2"))
            if not (5.0 <= setpoint <= 30.0 and 0 < hours <= 48):
                raise ValueError("override out of range")
            self.thermostat.override(setpoint, int(hours * 3600))
            return "200 OK", "application/json", json.dumps(self.thermostat.state()).encode()
        return "404 Not Found", "text/plain", b"not found\n"


def _text(payload):
    if type(payload) is dict:
        return json.dumps(payload)
    try:
        return bytes(payload).decode()
    except UnicodeError:
        return bytes(payload).hex()

#pragma once
// Helpers around civetweb shared by the exporter's server and the simulator.

#include <string>
#include <string_view>

struct mg_context;

namespace kmb::net {

// mg_stop, promptly: civetweb's master thread sees mg_stop only when its poll (a 2 s quantum)
// returns, so this knocks on the listener at host:port (numeric) until it has stopped. Waits
// for the requests in flight, like mg_stop.
void StopCivetweb(mg_context* ctx, const std::string& host, int port);

// True when an Accept-Encoding header allows gzip ("gzip;q=0" refuses it; "*" allows it): the
// exporter's /metrics and the simulator's API server decide by it.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace kmb::net

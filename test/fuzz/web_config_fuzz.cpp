// Fuzzes the --web.config.file loader (exporter-toolkit format) on its text entry point.
// Built only when include/kmb/server/web_config.h exists (see CMakeLists.txt).

#include "fuzz_util.h"
#include "kmb/server/web_config.h"

KMB_FUZZ_TARGET {
  kmb::WebConfig config;
  (void)kmb::ParseWebConfig(kmb::fuzz::AsText(data, size), &config);
  return 0;
}

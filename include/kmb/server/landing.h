#pragma once
// The landing page (`/`): a live, `kubectl top`-like view of the latest snapshot (nodes, top pods
// by CPU and by memory, source health, errors by reason), server-rendered HTML with no external
// assets, readable without JavaScript (it reloads itself with a meta refresh).

#include <string>

#include "kmb/model/snapshot.h"

namespace kmb {

struct LandingPageInfo {
  std::string telemetry_path = "/metrics";
  int refresh_seconds = 15;  // meta refresh; 0: none
  size_t top_pods = 20;      // rows of each top-pods table
};

// Renders the page for `snapshot` (nullptr: no poll has completed yet). A pure function.
std::string RenderLandingPage(const Snapshot* snapshot, const LandingPageInfo& info);

}  // namespace kmb

// What-if for the decoder: the same src/sources/*.cpp compiled with -march=haswell (a bench-only
// copy of the library, kmb_bench_sources_haswell), so that simdjson's On-Demand front end, which
// is inlined into json_walk.cpp and picks its kernel at COMPILE time
// (SIMDJSON_BUILTIN_IMPLEMENTATION), uses the AVX2 kernel instead of "fallback" (what the
// project's generic x86-64 build gets). Same inputs and baselines as micro_bench's decode group.
//
//   decode_isa_bench [--sim_body=FILE] [google benchmark flags]
// FILE: a 110-pod simulated Summary (micro_bench writes sim-110pods.json next to itself).

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_baselines.h"
#include "bench_util.h"
#include "kmb/sources/summary.h"

#define KMB_STR2(x) #x
#define KMB_STR(x) KMB_STR2(x)

namespace {

struct Input {
  std::string name;
  std::string body;
  bool fixture = true;
};
std::vector<std::unique_ptr<Input>> g_inputs;

void BM_DecodeInPlace(benchmark::State& state, const Input* in) {
  kmb::NodeSummary out;
  for (auto _ : state) {
    kmb::Status st = kmb::DecodeSummary(in->body, in->body.capacity(), "node-a", &out);
    benchmark::DoNotOptimize(st);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in->body.size()));
}

void BM_DecodeCopyFresh(benchmark::State& state, const Input* in) {
  for (auto _ : state) {
    kmb::NodeSummary out;
    kmb::Status st = kmb::DecodeSummary(std::string_view(in->body), "node-a", &out);
    benchmark::DoNotOptimize(st);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in->body.size()));
}

class Capture : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (!r.error_occurred && r.iterations > 0) {
        sec[r.benchmark_name()] = r.cpu_accumulated_time / static_cast<double>(r.iterations);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> sec;
};

std::string Shorten(std::string name) {
  for (const char* cut : {"-stats-summary", ".json"}) {
    size_t p = name.find(cut);
    if (p != std::string::npos) name.erase(p, std::strlen(cut));
  }
  for (const char* pre : {"nri-kubernetes-", "datadog-integrations-core-", "telegraf-kubernetes-"}) {
    if (name.rfind(pre, 0) == 0) name.erase(0, std::strlen(pre));
  }
  return name;
}

void Add(std::string name, const std::string& bytes, bool fixture) {
  auto in = std::make_unique<Input>();
  in->name = std::move(name);
  in->fixture = fixture;
  in->body.reserve(bytes.size() + kmb::kJsonPadding);
  in->body.assign(bytes);
  g_inputs.push_back(std::move(in));
}

}  // namespace

int main(int argc, char** argv) {
  std::string sim_body, tables_out;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a.rfind("--sim_body=", 0) == 0) sim_body = std::string(a.substr(11));
    else if (a.rfind("--kmb_tables_out=", 0) == 0) tables_out = std::string(a.substr(17));
    else args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi2") ||
      !__builtin_cpu_supports("pclmul")) {
    std::cout << "decode_isa_bench: this CPU has no AVX2/BMI2/PCLMUL; skipped\n";
    return 0;
  }
  std::cout << "simdjson On-Demand kernel compiled into this decoder: "
            << KMB_STR(SIMDJSON_BUILTIN_IMPLEMENTATION) << " (runtime stage 1: "
            << simdjson::get_active_implementation()->name() << ")\n";

  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(KMB_FIXTURES_DIR "/summary")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) Add(Shorten(f.filename().string()), kmb::bench::ReadFile(f), true);
  if (!sim_body.empty() && std::filesystem::exists(sim_body)) {
    Add("sim-110pods", kmb::bench::ReadFile(sim_body), false);
  }
  for (const auto& in : g_inputs) {
    const Input* p = in.get();
    benchmark::RegisterBenchmark(("decode_haswell/kmb_inplace/" + p->name).c_str(),
                                 BM_DecodeInPlace, p);
    benchmark::RegisterBenchmark(("decode_haswell/kmb_copy_fresh/" + p->name).c_str(),
                                 BM_DecodeCopyFresh, p);
    benchmark::RegisterBenchmark(("decode_haswell/nlohmann_dom/" + p->name).c_str(),
                                 kmb::bench::BM_NlohmannDom, &p->body);
    benchmark::RegisterBenchmark(("decode_haswell/simdjson_dom/" + p->name).c_str(),
                                 kmb::bench::BM_SimdjsonDom, &p->body);
  }
  Capture rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  benchmark::Shutdown();

  std::ostringstream md;
  md << "### Decode with the decoder compiled -march=haswell (simdjson On-Demand kernel "
     << KMB_STR(SIMDJSON_BUILTIN_IMPLEMENTATION) << "), MB/s\n\n"
     << "| input | bytes | kmb in place | kmb copy, fresh structs | nlohmann DOM | simdjson DOM | "
        "kmb / nlohmann | kmb / simdjson |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  double tb = 0, tk = 0, tp = 0, tn = 0, ts = 0;
  auto mbs = [](double b, double s) { return s > 0 ? kmb::bench::Fmt("%.0f", b / s / 1e6) : "n/a"; };
  for (const auto& in : g_inputs) {
    const double k = rep.sec["decode_haswell/kmb_inplace/" + in->name];
    const double p = rep.sec["decode_haswell/kmb_copy_fresh/" + in->name];
    const double j = rep.sec["decode_haswell/nlohmann_dom/" + in->name];
    const double sj = rep.sec["decode_haswell/simdjson_dom/" + in->name];
    if (k == 0) continue;
    const double b = static_cast<double>(in->body.size());
    md << "| " << in->name << " | " << in->body.size() << " | " << mbs(b, k) << " | " << mbs(b, p)
       << " | " << mbs(b, j) << " | " << mbs(b, sj) << " | "
       << (j > 0 ? kmb::bench::Fmt("%.2fx", j / k) : "n/a") << " | "
       << (sj > 0 ? kmb::bench::Fmt("%.2fx", sj / k) : "n/a") << " |\n";
    if (in->fixture && p > 0 && j > 0 && sj > 0) {
      tb += b;
      tk += k;
      tp += p;
      tn += j;
      ts += sj;
    }
  }
  if (tb > 0) {
    md << "| **all real fixtures** | " << static_cast<uint64_t>(tb) << " | " << mbs(tb, tk)
       << " | " << mbs(tb, tp) << " | " << mbs(tb, tn) << " | " << mbs(tb, ts) << " | "
       << kmb::bench::Fmt("%.2fx", tn / tk) << " | " << kmb::bench::Fmt("%.2fx", ts / tk)
       << " |\n";
  }
  std::cout << "\n================ kmb decode, -march=haswell what-if ================\n"
            << md.str() << std::flush;
  if (!tables_out.empty()) std::ofstream(tables_out) << md.str();
  return 0;
}

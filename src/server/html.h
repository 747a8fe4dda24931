#pragma once
// HTML helpers shared by the server's pages (landing page, /debug/status).

#include <string>
#include <string_view>

namespace kmb::html {

inline std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The head of every HTML page: no external assets, readable without JavaScript. `extra_head`
// goes inside <head> (e.g. a meta refresh).
inline std::string Head(std::string_view title, std::string_view extra_head = {}) {
  return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + Escape(title) + "</title>" +
         std::string(extra_head) +
         "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;"
         "text-align:left;vertical-align:top}td.n,th.n{text-align:right}.fail{color:#b00}"
         "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}"
         "h2{margin-top:1.5em}</style></head><body>";
}

}  // namespace kmb::html

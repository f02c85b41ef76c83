// Reading a report's HTML back in tests: the elements carrying a class, with their
// attributes (entities decoded) and the text of the <title> they hold, so a test can assert
// what a page draws rather than grep for a word.
#pragma once

#include <cctype>
#include <map>
#include <string>
#include <vector>

namespace duende::testing {

struct HtmlElement {
  std::string tag;
  std::map<std::string, std::string> attrs;
  std::string title;  ///< text of the first <title> child, decoded ("" when none)
  size_t offset = 0;  ///< where its start tag begins in the page

  bool HasClass(const std::string& cls) const {
    auto it = attrs.find("class");
    if (it == attrs.end()) return false;
    const std::string& v = it->second;
    for (size_t p = 0; (p = v.find(cls, p)) != std::string::npos; p += cls.size()) {
      bool starts = p == 0 || v[p - 1] == ' ';
      bool ends = p + cls.size() == v.size() || v[p + cls.size()] == ' ';
      if (starts && ends) return true;
    }
    return false;
  }
};

inline std::string DecodeHtmlText(const std::string& s) {
  static const std::map<std::string, std::string> kEntities = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"#39", "'"}, {"apos", "'"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      size_t semi = s.find(';', i);
      if (semi != std::string::npos) {
        auto it = kEntities.find(s.substr(i + 1, semi - i - 1));
        if (it != kEntities.end()) {
          out += it->second;
          i = semi;
          continue;
        }
      }
    }
    out += s[i];
  }
  return out;
}

/// Every start tag of `html` that has class `cls`.
inline std::vector<HtmlElement> ElementsWithClass(const std::string& html, const std::string& cls) {
  std::vector<HtmlElement> out;
  for (size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    size_t p = i + 1;
    if (p >= html.size() || !std::isalpha(static_cast<unsigned char>(html[p]))) continue;
    HtmlElement e;
    e.offset = i;
    while (p < html.size() && (std::isalnum(static_cast<unsigned char>(html[p])) || html[p] == '-'))
      e.tag += html[p++];
    bool self_closing = false;
    while (p < html.size() && html[p] != '>') {
      if (std::isspace(static_cast<unsigned char>(html[p]))) {
        ++p;
        continue;
      }
      if (html[p] == '/') {
        self_closing = true;
        ++p;
        continue;
      }
      std::string name;
      while (p < html.size() && html[p] != '=' && html[p] != '>' &&
             !std::isspace(static_cast<unsigned char>(html[p])))
        name += html[p++];
      std::string value;
      if (p < html.size() && html[p] == '=' && p + 1 < html.size() &&
          (html[p + 1] == '"' || html[p + 1] == '\'')) {
        char q = html[p + 1];
        size_t end = html.find(q, p + 2);
        if (end == std::string::npos) return out;
        value = DecodeHtmlText(html.substr(p + 2, end - p - 2));
        p = end + 1;
      }
      e.attrs[name] = value;
    }
    if (!e.HasClass(cls)) continue;
    if (!self_closing) {
      size_t t = html.find("<title>", p);
      size_t close = html.find("</" + e.tag + ">", p);
      if (t != std::string::npos && (close == std::string::npos || t < close)) {
        size_t te = html.find("</title>", t);
        if (te != std::string::npos) e.title = DecodeHtmlText(html.substr(t + 7, te - t - 7));
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace duende::testing

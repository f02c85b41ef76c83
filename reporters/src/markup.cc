#include "duende/reporters/markup.h"

#include "report_util.h"

namespace duende::reporters {
namespace {

bool XmlAllowed(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

}  // namespace

std::string XmlEscape(std::string_view s, bool attr) {
  std::string out;
  out.reserve(s.size() + 16);
  internal::ForEachCodepoint(
      s,
      [&](uint32_t cp, std::string_view bytes) {
        if (!XmlAllowed(cp)) {
          if (cp < 0x80) {
            out += internal::HexByte(static_cast<unsigned char>(cp));
          } else {
            out += "\\u{" + std::string(cp == 0xFFFE ? "FFFE" : "FFFF") + "}";
          }
          return;
        }
        switch (cp) {
          case '&':
            out += "&amp;";
            break;
          case '<':
            out += "&lt;";
            break;
          case '>':
            out += "&gt;";
            break;
          case '"':
            out += attr ? "&quot;" : "\"";
            break;
          case '\'':
            out += attr ? "&apos;" : "'";
            break;
          case '\t':
            out += attr ? "&#9;" : "\t";
            break;
          case '\n':
            out += attr ? "&#10;" : "\n";
            break;
          case '\r':
            // Parsers turn a raw CR into LF; a reference keeps it.
            out += "&#13;";
            break;
          default:
            out += bytes;
        }
      },
      [&](unsigned char b) { out += internal::HexByte(b); });
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  internal::ForEachCodepoint(
      s,
      [&](uint32_t cp, std::string_view bytes) {
        switch (cp) {
          case '&':
            out += "&amp;";
            return;
          case '<':
            out += "&lt;";
            return;
          case '>':
            out += "&gt;";
            return;
          case '"':
            out += "&quot;";
            return;
          case '\'':
            out += "&#39;";
            return;
          case '\n':
          case '\t':
            out += static_cast<char>(cp);
            return;
          default:
            break;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xA0)) {
          out += cp < 0x80 ? internal::HexByte(static_cast<unsigned char>(cp)) : "?";
          return;
        }
        out += bytes;
      },
      [&](unsigned char b) { out += internal::HexByte(b); });
  return out;
}

}  // namespace duende::reporters

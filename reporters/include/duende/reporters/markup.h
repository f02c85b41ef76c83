// Escaping text for the XML and HTML that duende writes (JUnit, HTML reports, launchd
// plists, mutation reports): one owner, so that every writer handles control characters and
// bytes that are not UTF-8 the same way.
#pragma once

#include <string>
#include <string_view>

namespace duende::reporters {

/// `text` for XML 1.0 element content (attribute = false) or a double-quoted attribute value:
/// & < > escaped, and in an attribute also quotes, tab, CR and newline (as references). What
/// XML 1.0 cannot carry (most control characters, bytes that are not UTF-8) becomes visible
/// "\x01" text.
std::string XmlEscape(std::string_view text, bool attribute = false);

/// `text` for HTML element content or a double-quoted attribute: & < > " ' escaped; newline
/// and tab kept; other control characters and bytes that are not UTF-8 as visible "\x01",
/// C1 controls as '?'.
std::string HtmlEscape(std::string_view text);

}  // namespace duende::reporters

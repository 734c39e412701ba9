// Readable text from an HTML page, for turning documentation into training documents: drops
// <script>/<style>/<head>, turns block elements into paragraph breaks, decodes character references,
// and collapses whitespace. Not a full HTML parser: enough for well-formed manuals.
#pragma once
#include <string>
#include <string_view>

namespace nanochat {

std::string html_to_text(std::string_view html);

}  // namespace nanochat

// The live status page served at GET / by `assist-sync run`: one
// self-contained HTML document (CSS and script inline, nothing fetched from
// elsewhere) that polls GET /v1/status once a second and renders it.
#ifndef ASSIST_SRC_SERVICE_STATUS_PAGE_H
#define ASSIST_SRC_SERVICE_STATUS_PAGE_H

#include <string_view>

namespace assist::service {

// The page, UTF-8 HTML.
std::string_view status_page_html();

// The Content-Security-Policy to serve it with: its own inline style and
// script, requests to this origin only, no framing.
inline constexpr std::string_view kStatusPageCsp =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace assist::service

#endif  // ASSIST_SRC_SERVICE_STATUS_PAGE_H

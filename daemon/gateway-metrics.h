/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "gateway-config.h"
#include "gateway-control.h"

/* The operator's listener for Prometheus ([Metrics] Listen=): plain HTTP,
 * apart from the storefront's socket, one route, GET /metrics. Each scrape
 * asks prepayd for the "metrics" op's pages (prepayd renders the
 * OpenMetrics text; the gateway only joins the pages) and answers them as
 * one body. Off unless Listen= is set. */

struct gateway_metrics;

/* Listens on c->metrics_listen; *ret NULL when it is empty. */
int gateway_metrics_new(sd_event *e, const struct gateway_config *c, struct control_pool *pool,
                        struct gateway_metrics **ret);
void gateway_metrics_free(struct gateway_metrics *m);

package harness

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"
)

// palette colours targets in a fixed order.
var palette = []color.RGBA{
	{90, 90, 90, 255}, {31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255},
	{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

var (
	white = color.RGBA{255, 255, 255, 255}
	ink   = color.RGBA{30, 30, 30, 255}
	grid  = color.RGBA{220, 220, 220, 255}
)

// chart draws two panels with the standard library alone: throughput of
// every target relative to direct PostgreSQL per workload (grouped bars,
// a line at 1.0), and p50/p99 latency at one client per target.
func (rep *Report) chart() ([]byte, error) {
	const w, h = 1200, 760
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fillRect(img, 0, 0, w, h, white)
	names := rep.measuredTargets()
	colour := func(n string) color.RGBA { return palette[slices.Index(names, n)%len(palette)] }

	drawText(img, 20, 12, 2, fmt.Sprintf("PGSHIELD BENCH %s (%s) - THROUGHPUT / DIRECT, MEDIAN OF %d ROUNDS",
		rep.Mode, rep.Started.Format("2006-01-02 15:04"), rep.Rounds), ink)
	// Legend, wrapped to the width.
	lx, ly := 20, 40
	for _, n := range names {
		if lx+18+textWidth(n, 2) > w-20 {
			lx, ly = 20, ly+22
		}
		fillRect(img, lx, ly, 14, 14, colour(n))
		drawText(img, lx+18, ly+1, 2, n, ink)
		lx += 18 + textWidth(n, 2) + 20
	}

	var tput, lat []WorkloadResult
	for _, wl := range rep.Workloads {
		if wl.Workload.Latency {
			lat = append(lat, wl)
		} else if len(wl.Rows) > 0 {
			tput = append(tput, wl)
		}
	}
	// Panel 1: ratios.
	top, bottom, left, right := ly+40, 440, 70, w-20
	maxRatio := 1.2
	for _, wl := range tput {
		for _, r := range wl.Rows {
			maxRatio = math.Max(maxRatio, r.Ratio*1.1)
		}
	}
	y := func(v float64) int { return bottom - int(v/maxRatio*float64(bottom-top)) }
	for v := 0.0; v <= maxRatio; v += 0.25 {
		fillRect(img, left, y(v), right-left, 1, grid)
		drawText(img, 10, y(v)-7, 2, fmt.Sprintf("%.2f", v), ink)
	}
	fillRect(img, left, y(1), right-left, 2, ink)
	if len(tput) > 0 {
		gw := (right - left) / len(tput)
		labelScale := 2
		for _, wl := range tput {
			if textWidth(wl.Workload.ID, 2) > gw-10 {
				labelScale = 1
			}
		}
		for gi, wl := range tput {
			bw := min(max((gw-20)/max(len(wl.Rows), 1), 4), 70)
			for bi, r := range wl.Rows {
				x := left + gi*gw + 10 + bi*bw
				if r.Error != "" && wl.Workload.Tool == "pgbench" {
					// pgbench aborted clients: no comparable rate to draw.
					drawText(img, x, bottom-10, 1, "ABORT", palette[4])
					continue
				}
				fillRect(img, x, y(r.Ratio), bw-3, bottom-y(r.Ratio), colour(r.Target))
				if bw >= 24 {
					drawText(img, x, y(r.Ratio)-10, 1, fmt.Sprintf("%.2f", r.Ratio), ink)
				}
			}
			drawText(img, left+gi*gw+10, bottom+8, labelScale, wl.Workload.ID, ink)
		}
	}
	// Panel 2: latency at one client, p50 (solid) and p99 (light) per target.
	top2, bottom2 := 500, 720
	drawText(img, 20, 470, 2, "LATENCY AT 1 CLIENT (MS): P50 SOLID, P99 LIGHT", ink)
	if len(lat) > 0 && len(lat[0].Rows) > 0 {
		rows := lat[0].Rows
		maxMs := 0.0
		for _, r := range rows {
			maxMs = math.Max(maxMs, r.P99ms)
		}
		maxMs = math.Max(maxMs*1.15, 0.1)
		y2 := func(v float64) int { return bottom2 - int(v/maxMs*float64(bottom2-top2)) }
		for i := 0; i <= 4; i++ {
			v := maxMs * float64(i) / 4
			fillRect(img, left, y2(v), right-left, 1, grid)
			drawText(img, 10, y2(v)-7, 2, fmt.Sprintf("%.2f", v), ink)
		}
		gw := (right - left) / len(rows)
		for i, r := range rows {
			x, c := left+i*gw+10, colour(r.Target)
			light := color.RGBA{c.R/2 + 127, c.G/2 + 127, c.B/2 + 127, 255}
			bw := min((gw-30)/2, 80)
			fillRect(img, x, y2(r.P50ms), bw, bottom2-y2(r.P50ms), c)
			fillRect(img, x+bw+4, y2(r.P99ms), bw, bottom2-y2(r.P99ms), light)
			drawText(img, x, y2(r.P50ms)-10, 1, fmt.Sprintf("%.3f", r.P50ms), ink)
			drawText(img, x+bw+4, y2(r.P99ms)-10, 1, fmt.Sprintf("%.3f", r.P99ms), ink)
			drawText(img, x, bottom2+8, 1, r.Target, ink)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

/// A minimal line chart written as SVG 1.1 text (no dependencies): panels stacked vertically, each with its own
/// y axis, a shared quantity on x (e.g. the training step), axis ticks at the ends and a legend.
///
/// ```swift
/// let svg = SVGChart(xLabel: "step", panels: [
///     .init(title: "training loss", series: [.init(name: "loss", points: losses)]),
///     .init(title: "validation F1", series: [.init(name: "f1", points: scores, markers: true)]),
/// ]).svg()
/// ```
public struct SVGChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// `(x, y)`; non-finite values are skipped.
        public var points: [(Double, Double)]
        /// A dot on every point (for sparse series such as evaluations).
        public var markers: Bool
        /// CSS colour; `nil` picks from a fixed palette.
        public var color: String?

        public init(name: String, points: [(Double, Double)], markers: Bool = false, color: String? = nil) {
            self.name = name
            self.points = points
            self.markers = markers
            self.color = color
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var series: [Series]
        public init(title: String, series: [Series]) {
            self.title = title
            self.series = series
        }
    }

    public var xLabel: String
    public var panels: [Panel]
    /// Size of the whole image in pixels (each panel gets an equal share of the height).
    public var width = 720, panelHeight = 260

    public init(xLabel: String, panels: [Panel]) {
        self.xLabel = xLabel
        self.panels = panels
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]

    /// `x` with up to `digits` decimals, trailing zeros dropped (no Foundation).
    static func number(_ x: Double, _ digits: Int = 2) -> String {
        guard x.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let v = Int64((abs(x) * scale).rounded())
        var s = String(v / Int64(scale))
        var frac = String(v % Int64(scale))
        while frac.count < digits { frac = "0" + frac }
        while frac.hasSuffix("0") { frac.removeLast() }
        if !frac.isEmpty { s += "." + frac }
        return (x < 0 && v != 0 ? "-" : "") + s
    }

    static func escaped(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// The SVG document.
    public func svg() -> String {
        let height = panelHeight * max(panels.count, 1)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
        out += "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        let all = panels.flatMap { $0.series.flatMap(\.points) }.filter { $0.0.isFinite && $0.1.isFinite }
        var x0 = all.map(\.0).min() ?? 0, x1 = all.map(\.0).max() ?? 1
        if x1 <= x0 { x1 = x0 + 1 }
        if x0 > 0 && x0 < (x1 - x0) * 0.1 { x0 = 0 }
        let left = 70.0, right = Double(width) - 20, plotW = right - left
        var colorIndex = 0
        for (i, panel) in panels.enumerated() {
            let top = Double(i * panelHeight) + 30, bottom = Double((i + 1) * panelHeight) - 40
            let points = panel.series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
            var y0 = points.map(\.1).min() ?? 0, y1 = points.map(\.1).max() ?? 1
            if y1 <= y0 {
                y0 -= 0.5
                y1 += 0.5
            }
            let pad = (y1 - y0) * 0.05
            y0 -= pad
            y1 += pad
            func px(_ x: Double) -> String { Self.number(left + (x - x0) / (x1 - x0) * plotW, 1) }
            func py(_ y: Double) -> String { Self.number(bottom - (y - y0) / (y1 - y0) * (bottom - top), 1) }
            out += "<text x=\"\(Self.number(left))\" y=\"\(Self.number(top - 10))\" font-weight=\"bold\">\(Self.escaped(panel.title))</text>\n"
            out +=
                "<rect x=\"\(Self.number(left))\" y=\"\(Self.number(top))\" width=\"\(Self.number(plotW))\" height=\"\(Self.number(bottom - top))\" "
            out += "fill=\"none\" stroke=\"#888\"/>\n"
            for (y, anchor) in [(y0 + pad, "end"), (y1 - pad, "end")] {
                out +=
                    "<text x=\"\(Self.number(left - 6))\" y=\"\(py(y))\" text-anchor=\"\(anchor)\" dominant-baseline=\"middle\">\(Self.number(y, 4))</text>\n"
            }
            for x in [x0, x1] {
                out += "<text x=\"\(px(x))\" y=\"\(Self.number(bottom + 16))\" text-anchor=\"middle\">\(Self.number(x, 2))</text>\n"
            }
            out +=
                "<text x=\"\(Self.number(left + plotW / 2))\" y=\"\(Self.number(bottom + 32))\" text-anchor=\"middle\">\(Self.escaped(xLabel))</text>\n"
            for (k, s) in panel.series.enumerated() {
                let color = s.color ?? Self.palette[colorIndex % Self.palette.count]
                colorIndex += 1
                let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }
                if pts.count > 1 {
                    out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\""
                    out += pts.map { px($0.0) + "," + py($0.1) }.joined(separator: " ") + "\"/>\n"
                }
                if s.markers || pts.count == 1 {
                    for p in pts { out += "<circle cx=\"\(px(p.0))\" cy=\"\(py(p.1))\" r=\"3\" fill=\"\(color)\"/>\n" }
                }
                let ly = top + 14 + Double(k) * 16
                out += "<rect x=\"\(Self.number(right - 150))\" y=\"\(Self.number(ly - 8))\" width=\"12\" height=\"3\" fill=\"\(color)\"/>\n"
                out += "<text x=\"\(Self.number(right - 132))\" y=\"\(Self.number(ly - 3))\">\(Self.escaped(s.name))</text>\n"
            }
        }
        out += "</svg>\n"
        return out
    }
}

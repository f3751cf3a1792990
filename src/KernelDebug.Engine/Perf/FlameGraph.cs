using System.Globalization;
using System.Security;
using System.Text;

namespace KernelDebug.Perf;

/// <summary>
/// Flame graphs from samples: the folded-stack text that Brendan Gregg's FlameGraph tools read
/// ("comm;outer;...;inner count", as stackcollapse-perf.pl writes it), and a self-contained interactive SVG
/// (tooltips, click to zoom, search with highlighting).
/// </summary>
public static class FlameGraph
{
    /// <summary>Folds samples into stacks (outermost frame first, the command name as the root) with their sample counts.</summary>
    public static SortedDictionary<string, long> Fold(IEnumerable<PerfSample> samples)
    {
        var folded = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var sb = new StringBuilder();
        foreach (var s in samples)
        {
            sb.Clear();
            sb.Append(Clean(s.Comm));
            if (s.CallChain.Length == 0) sb.Append(';').Append(Clean(s.Symbol));
            else
                for (int i = s.CallChain.Length - 1; i >= 0; i--)
                    sb.Append(';').Append(Clean(s.CallChain[i].Symbol));
            var key = sb.ToString();
            folded[key] = folded.TryGetValue(key, out var n) ? n + 1 : 1;
        }
        return folded;
    }

    // ';' separates frames and the last ' ' the count: keep them out of names, as stackcollapse-perf does.
    private static string Clean(string name) => name.Replace(';', ':').Replace('\n', ' ');

    public static IEnumerable<string> FoldedLines(SortedDictionary<string, long> folded) =>
        folded.Select(kv => $"{kv.Key} {kv.Value.ToString(CultureInfo.InvariantCulture)}");

    private sealed class Node
    {
        public readonly string Name;
        public long Total;
        /// <summary>Differential graphs: the change of the stacks ending here (difffolded's second count minus its first).</summary>
        public double Delta;
        public readonly Dictionary<string, Node> Children = new(StringComparer.Ordinal);
        public Node(string name) => Name = name;
    }

    /// <summary>The tree of stacks: one node per distinct stack prefix.</summary>
    private static Node Tree(SortedDictionary<string, long> folded)
    {
        var root = new Node("all");
        foreach (var (stack, count) in folded) Add(root, stack, count, 0);
        return root;
    }

    private static void Add(Node root, string stack, long count, double delta)
    {
        root.Total += count;
        var node = root;
        foreach (var frame in stack.Split(';'))
        {
            if (!node.Children.TryGetValue(frame, out var child)) node.Children[frame] = child = new Node(frame);
            child.Total += count;
            node = child;
        }
        // As flamegraph.pl: the delta colours the frame the stack ends in.
        node.Delta += delta;
    }

    /// <summary>Number of rectangles the SVG draws (one per distinct stack prefix, plus the root).</summary>
    public static int FrameCount(SortedDictionary<string, long> folded)
    {
        int Count(Node n) => 1 + n.Children.Values.Sum(Count);
        return Count(Tree(folded));
    }

    public static string RenderSvg(SortedDictionary<string, long> folded, string title, int width = 1200) =>
        Render(Tree(folded), title, width, differential: false, negate: false);

    /// <summary>
    /// A differential flame graph, as Brendan Gregg's difffolded.pl | flamegraph.pl draw it: frames as wide as the
    /// second profile's samples, red where a stack grew from the first profile, blue where it shrank, white unchanged,
    /// the hue's depth proportional to the change. <paramref name="normalize"/> scales the first profile to the second's
    /// total first (difffolded -n); <paramref name="negate"/> swaps the hues (flamegraph --negate).
    /// </summary>
    public static string RenderDiffSvg(SortedDictionary<string, long> before, SortedDictionary<string, long> after, string title, bool normalize = false, bool negate = false, int width = 1200)
    {
        double scale = 1;
        long totalBefore = before.Values.Sum(), totalAfter = after.Values.Sum();
        if (normalize && totalBefore > 0) scale = (double)totalAfter / totalBefore;
        var root = new Node("all");
        foreach (var (stack, count) in after)
            Add(root, stack, count, count - (before.TryGetValue(stack, out var b) ? b * scale : 0));
        // Stacks only in the first profile have no width in the second: not drawn, as flamegraph.pl draws nothing that narrow.
        foreach (var stack in before.Keys) if (!after.ContainsKey(stack)) Add(root, stack, 0, -before[stack] * scale);
        return Render(root, title, width, differential: true, negate);
    }

    /// <summary>The folded lines of two profiles as difffolded.pl writes them: "stack count1 count2".</summary>
    public static IEnumerable<string> DiffFoldedLines(SortedDictionary<string, long> before, SortedDictionary<string, long> after, bool normalize = false)
    {
        long totalBefore = before.Values.Sum(), totalAfter = after.Values.Sum();
        double scale = normalize && totalBefore > 0 ? (double)totalAfter / totalBefore : 1;
        foreach (var stack in before.Keys.Union(after.Keys).OrderBy(k => k, StringComparer.Ordinal))
        {
            before.TryGetValue(stack, out var a);
            after.TryGetValue(stack, out var b);
            yield return $"{stack} {Math.Round(a * scale).ToString(CultureInfo.InvariantCulture)} {b.ToString(CultureInfo.InvariantCulture)}";
        }
    }

    private const int FontSize = 12;
    private const double Padding = 3;

    /// <summary>
    /// The width a label takes in the SVG's font (Verdana, 12 px): per-character advance widths of Verdana, whose
    /// letters are wider than those of the sans-serif fonts that stand in for it (DejaVu Sans) but for a few (c, &amp;: 2% wider), plus 10%; characters
    /// outside the table count as the widest letter. What the SVG is trimmed by, so no label overruns its frame in a
    /// renderer without JavaScript.
    /// </summary>
    public static double TextWidth(string text)
    {
        double units = 0;
        foreach (char c in text) units += c < 128 && VerdanaWidths[c] > 0 ? VerdanaWidths[c] : 2100;
        return units / 2048.0 * FontSize * 1.10;
    }

    /// <summary>The label drawn in a frame this wide: the name, or as much of it as fits followed by "..", or nothing.</summary>
    public static string FitLabel(string name, double frameWidth)
    {
        double room = frameWidth - 2 * Padding;
        if (TextWidth(name) <= room) return name;
        double dots = TextWidth("..");
        int n = 0;
        double used = dots;
        while (n < name.Length)
        {
            double w = TextWidth(name[n].ToString());
            if (used + w > room) break;
            used += w;
            n++;
        }
        return n < 2 ? string.Empty : name[..n] + "..";
    }

    // Verdana's advance widths in units of 2048 per em, for the printable ASCII characters.
    private static readonly short[] VerdanaWidths = BuildWidths();

    private static short[] BuildWidths()
    {
        var w = new short[128];
        const string chars = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
        short[] widths =
        {
            720, 809, 1176, 1676, 1303, 2221, 1493, 550, 909, 909, 1303, 1676, 745, 924, 745, 1485,
            1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 909, 909, 1676, 1676, 1676, 1117,
            2052, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 862, 931, 1428, 1141, 1726, 1532, 1612,
            1235, 1612, 1431, 1401, 1264, 1503, 1401, 2025, 1403, 1263, 1404, 909, 1485, 909, 1676, 1303,
            1303, 1229, 1276, 1067, 1276, 1220, 745, 1276, 1296, 562, 683, 1212, 562, 1992, 1296, 1243,
            1276, 1276, 874, 1067, 807, 1296, 1212, 1675, 1212, 1212, 1051, 1300, 909, 1300, 1676,
        };
        for (int i = 0; i < chars.Length; i++) w[chars[i]] = widths[i];
        return w;
    }

    private static string Render(Node root, string title, int width, bool differential, bool negate)
    {
        int Depth(Node n) => 1 + n.Children.Values.Where(c => c.Total > 0).Select(Depth).DefaultIfEmpty(0).Max();
        const int frameHeight = 16, top = 40, bottom = 24;
        int depth = Depth(root);
        int height = top + depth * frameHeight + bottom;
        double maxDelta = 0;
        void MaxDelta(Node n) { maxDelta = Math.Max(maxDelta, Math.Abs(n.Delta)); foreach (var c in n.Children.Values) MaxDelta(c); }
        if (differential) MaxDelta(root);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\" onload=\"init(evt)\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<style>text {{ font-family: Verdana, sans-serif; font-size: {FontSize}px; fill: #000; }} .f:hover rect {{ stroke: #000; stroke-width: 0.5; cursor: pointer; }} #title {{ font-size: 17px; text-anchor: middle; }} #details, #matched {{ font-size: 12px; }}</style>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#f8f8f8\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text id=\"title\" x=\"{width / 2}\" y=\"24\">{SecurityElement.Escape(title)}</text>\n");
        svg.Append("<text id=\"reset\" x=\"10\" y=\"24\" style=\"cursor:pointer; opacity:0\" onclick=\"unzoom()\">Reset Zoom</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text id=\"search\" x=\"{width - 110}\" y=\"24\" style=\"cursor:pointer\" onclick=\"search_prompt()\">Search</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text id=\"matched\" x=\"{width - 110}\" y=\"{height - 8}\"></text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text id=\"details\" x=\"10\" y=\"{height - 8}\"> </text>\n<g id=\"frames\">\n");
        double scale = (width - 20.0) / Math.Max(1, root.Total);
        void Emit(Node n, double x, int level)
        {
            double w = n.Total * scale;
            double y = height - bottom - (level + 1) * frameHeight;
            string name = SecurityElement.Escape(n.Name) ?? string.Empty;
            string change = differential ? $"; {(n.Delta >= 0 ? "+" : string.Empty)}{100.0 * n.Delta / Math.Max(1, root.Total):F2}%" : string.Empty;
            string info = $"{name} ({n.Total.ToString("N0", CultureInfo.InvariantCulture)} samples, {100.0 * n.Total / Math.Max(1, root.Total):F2}%{change})";
            string fill = differential ? DiffColor(negate ? -n.Delta : n.Delta, maxDelta) : Color(n.Name);
            // The label is trimmed here, so renderers without JavaScript show it inside its frame; the script refits it on zoom.
            string label = SecurityElement.Escape(FitLabel(n.Name, w)) ?? string.Empty;
            svg.Append(CultureInfo.InvariantCulture, $"<g class=\"f\" onmouseover=\"s(this)\" onmouseout=\"c()\" onclick=\"zoom(this)\"><title>{info}</title>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{10 + x:F2}\" y=\"{y}\" width=\"{w:F2}\" height=\"{frameHeight - 1}\" fill=\"{fill}\" data-fill=\"{fill}\" rx=\"2\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{10 + Padding + x:F2}\" y=\"{y + 11.5}\">{label}</text></g>\n");
            double cx = x;
            foreach (var child in n.Children.Values.Where(c => c.Total > 0).OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                Emit(child, cx, level + 1);
                cx += child.Total * scale;
            }
        }
        Emit(root, 0, 0);
        svg.Append("</g>\n<script type=\"text/ecmascript\"><![CDATA[\n").Append(Script).Append("\n]]></script>\n</svg>\n");
        return svg.ToString();
    }

    // flamegraph.pl's differential scale: white for no change, deeper red for more growth, deeper blue for more loss.
    private static string DiffColor(double delta, double maxDelta)
    {
        int r = 255, g = 255, b = 255;
        if (maxDelta > 0 && delta > 0) g = b = (int)(210 * (maxDelta - delta) / maxDelta);
        else if (maxDelta > 0 && delta < 0) r = g = (int)(210 * (maxDelta + delta) / maxDelta);
        return $"rgb({r},{g},{b})";
    }

    // Warm colours keyed by the name, so one function keeps its colour everywhere.
    private static string Color(string name)
    {
        uint h = 2166136261;
        foreach (char ch in name) h = (h ^ ch) * 16777619;
        int r = 205 + (int)(h % 50), g = (int)(h / 50 % 230), b = (int)(h / 11500 % 55);
        return $"rgb({r},{g},{b})";
    }

    private const string Script = """
var frames, details, matched, resetButton, searchButton, svgWidth, margin = 10, searching = false;
function init(evt) {
  frames = document.getElementById("frames"); details = document.getElementById("details").firstChild;
  matched = document.getElementById("matched"); resetButton = document.getElementById("reset");
  searchButton = document.getElementById("search");
  svgWidth = parseFloat(document.documentElement.getAttribute("width"));
  // Labels come trimmed in the markup; the original geometry and fill (data-fill) are kept for unzoom and search reset.
  for (var g of frames.children) { var r = g.querySelector("rect"); r.dataset.x = r.getAttribute("x"); r.dataset.w = r.getAttribute("width"); }
}
function s(g) { details.nodeValue = g.querySelector("title").textContent; }
function c() { details.nodeValue = " "; }
function nameOf(g) { return g.querySelector("title").textContent.replace(/ \([^()]*\)$/, ""); }
function fit(g) {
  var r = g.querySelector("rect"), t = g.querySelector("text"), full = nameOf(g);
  var room = parseFloat(r.getAttribute("width")) - 6; t.setAttribute("x", parseFloat(r.getAttribute("x")) + 3);
  t.textContent = full;
  if (room < 12) { t.textContent = ""; return; }
  if (t.getComputedTextLength() <= room) return;
  for (var n = full.length - 1; n >= 2; n--) { t.textContent = full.substring(0, n) + ".."; if (t.getComputedTextLength() <= room) return; }
  t.textContent = "";
}
function zoom(node) {
  var r = node.querySelector("rect"), x = parseFloat(r.dataset.x), w = parseFloat(r.dataset.w), y = parseFloat(r.getAttribute("y"));
  var ratio = (svgWidth - 2 * margin) / w;
  resetButton.style.opacity = 1;
  for (var g of frames.children) {
    var gr = g.querySelector("rect"), gx = parseFloat(gr.dataset.x), gw = parseFloat(gr.dataset.w), gy = parseFloat(gr.getAttribute("y"));
    var inside = gx >= x - 0.0001 && gx + gw <= x + w + 0.0001;
    if (gy > y) { g.style.opacity = 0.5; inside = true; } else g.style.opacity = 1;
    if (!inside && gy <= y) { g.style.display = "none"; continue; }
    g.style.display = "";
    var nx = gy > y ? margin : (gx - x) * ratio + margin, nw = gy > y ? svgWidth - 2 * margin : gw * ratio;
    gr.setAttribute("x", nx); gr.setAttribute("width", nw); fit(g);
  }
}
function unzoom() {
  resetButton.style.opacity = 0;
  for (var g of frames.children) { var r = g.querySelector("rect"); g.style.display = ""; g.style.opacity = 1; r.setAttribute("x", r.dataset.x); r.setAttribute("width", r.dataset.w); fit(g); }
}
function search_prompt() {
  // As flamegraph.pl: while a search is shown, the button resets it.
  if (searching) { reset_search(); return; }
  var term = prompt("Search for (regular expression):", "");
  if (term === null || term === "") return;
  search(term);
}
function reset_search() { search(""); }
function search(term) {
  var re = term === "" ? null : new RegExp(term), total = 0, hit = 0, seen = [];
  for (var g of frames.children) {
    var r = g.querySelector("rect"), name = nameOf(g);
    var w = parseFloat(r.dataset.w), x = parseFloat(r.dataset.x);
    if (w > total) total = w;
    if (re !== null && re.test(name)) {
      r.setAttribute("fill", "rgb(230,0,230)");
      if (!seen.some(function (p) { return x >= p[0] && x + w <= p[0] + p[1] + 0.0001; })) { seen.push([x, w]); hit += w; }
    } else r.setAttribute("fill", r.dataset.fill); // every other frame gets its own colour back, matched before or not
  }
  searching = re !== null;
  searchButton.textContent = searching ? "Reset Search" : "Search";
  matched.textContent = searching ? "Matched: " + (100 * hit / total).toFixed(1) + "%" : "";
}
""";
}

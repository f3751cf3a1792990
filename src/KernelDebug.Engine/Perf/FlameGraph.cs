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
        public readonly Dictionary<string, Node> Children = new(StringComparer.Ordinal);
        public Node(string name) => Name = name;
    }

    /// <summary>The tree of stacks: one node per distinct stack prefix.</summary>
    private static Node Tree(SortedDictionary<string, long> folded)
    {
        var root = new Node("all");
        foreach (var (stack, count) in folded)
        {
            root.Total += count;
            var node = root;
            foreach (var frame in stack.Split(';'))
            {
                if (!node.Children.TryGetValue(frame, out var child)) node.Children[frame] = child = new Node(frame);
                child.Total += count;
                node = child;
            }
        }
        return root;
    }

    /// <summary>Number of rectangles the SVG draws (one per distinct stack prefix, plus the root).</summary>
    public static int FrameCount(SortedDictionary<string, long> folded)
    {
        int Count(Node n) => 1 + n.Children.Values.Sum(Count);
        return Count(Tree(folded));
    }

    public static string RenderSvg(SortedDictionary<string, long> folded, string title, int width = 1200)
    {
        var root = Tree(folded);
        int Depth(Node n) => 1 + (n.Children.Count == 0 ? 0 : n.Children.Values.Max(Depth));
        const int frameHeight = 16, top = 40, bottom = 24;
        int depth = Depth(root);
        int height = top + depth * frameHeight + bottom;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\" onload=\"init(evt)\">\n");
        svg.Append("<style>text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; } .f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; } #title { font-size: 17px; text-anchor: middle; } #details, #matched { font-size: 12px; }</style>\n");
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
            string info = $"{name} ({n.Total.ToString("N0", CultureInfo.InvariantCulture)} samples, {100.0 * n.Total / Math.Max(1, root.Total):F2}%)";
            svg.Append(CultureInfo.InvariantCulture, $"<g class=\"f\" onmouseover=\"s(this)\" onmouseout=\"c()\" onclick=\"zoom(this)\"><title>{info}</title>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{10 + x:F2}\" y=\"{y}\" width=\"{w:F2}\" height=\"{frameHeight - 1}\" fill=\"{Color(n.Name)}\" rx=\"2\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{13 + x:F2}\" y=\"{y + 11.5}\">{name}</text></g>\n");
            double cx = x;
            foreach (var child in n.Children.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                Emit(child, cx, level + 1);
                cx += child.Total * scale;
            }
        }
        Emit(root, 0, 0);
        svg.Append("</g>\n<script type=\"text/ecmascript\"><![CDATA[\n").Append(Script).Append("\n]]></script>\n</svg>\n");
        return svg.ToString();
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
var frames, details, matched, resetButton, svgWidth, margin = 10;
function init(evt) {
  frames = document.getElementById("frames"); details = document.getElementById("details").firstChild;
  matched = document.getElementById("matched"); resetButton = document.getElementById("reset");
  svgWidth = parseFloat(document.documentElement.getAttribute("width"));
  for (var g of frames.children) { var r = g.querySelector("rect"); r.dataset.x = r.getAttribute("x"); r.dataset.w = r.getAttribute("width"); fit(g); }
}
function s(g) { details.nodeValue = g.querySelector("title").textContent; }
function c() { details.nodeValue = " "; }
function fit(g) {
  var r = g.querySelector("rect"), t = g.querySelector("text"), full = g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "");
  var w = parseFloat(r.getAttribute("width")); t.setAttribute("x", parseFloat(r.getAttribute("x")) + 3);
  var chars = Math.floor((w - 6) / 7);
  t.textContent = chars < 3 ? "" : (full.length <= chars ? full : full.substring(0, chars - 2) + "..");
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
  var term = prompt("Search for (regular expression):", "");
  if (term === null) return;
  search(term);
}
function search(term) {
  var re = new RegExp(term), total = 0, hit = 0, seen = [];
  for (var g of frames.children) {
    var r = g.querySelector("rect"), name = g.querySelector("title").textContent.replace(/ \([^()]*\)$/, "");
    var w = parseFloat(r.dataset.w), x = parseFloat(r.dataset.x);
    if (w > total) total = w;
    if (term !== "" && re.test(name)) {
      r.setAttribute("fill", "rgb(230,0,230)");
      if (!seen.some(function (p) { return x >= p[0] && x + w <= p[0] + p[1] + 0.0001; })) { seen.push([x, w]); hit += w; }
    } else if (r.dataset.fill) r.setAttribute("fill", r.dataset.fill);
    if (!r.dataset.fill) r.dataset.fill = r.getAttribute("fill");
  }
  matched.textContent = term === "" ? "" : "Matched: " + (100 * hit / total).toFixed(1) + "%";
}
""";
}

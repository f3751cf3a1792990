using System.Globalization;
using KernelDebug.Host;
using KernelDebug.Native;
using KernelDebug.Perf;

namespace KernelDebug.Perf
{
    /// <summary>Lists the events this host offers, as perf list does, and tests each by opening it.</summary>
    public static class PerfEventList
    {
        public static IEnumerable<PerfEventSpec> Enumerate(Func<PerfEventKind, bool> wantKind)
        {
            if (wantKind(PerfEventKind.Hardware))
                foreach (var e in PerfEventCatalog.HardwareEvents)
                    yield return new PerfEventSpec { Name = e.Name, Kind = PerfEventKind.Hardware, TypeId = (uint)PerfTypeId.Hardware, Config = e.Config, Description = e.Description };
            if (wantKind(PerfEventKind.Software))
                foreach (var e in PerfEventCatalog.SoftwareEvents)
                    yield return new PerfEventSpec { Name = e.Name, Kind = PerfEventKind.Software, TypeId = (uint)PerfTypeId.Software, Config = e.Config, Description = e.Description };
            if (wantKind(PerfEventKind.Cache))
                foreach (var (name, config) in PerfEventCatalog.CacheEventNames())
                    yield return new PerfEventSpec { Name = name, Kind = PerfEventKind.Cache, TypeId = (uint)PerfTypeId.HwCache, Config = config, Description = "Hardware cache event" };
            if (wantKind(PerfEventKind.Pmu) || wantKind(PerfEventKind.Raw))
                foreach (var pmu in PerfEventCatalog.PmuNames())
                {
                    var eventsDir = Path.Combine(PerfEventCatalog.PmuRoot, pmu, "events");
                    if (!Directory.Exists(eventsDir)) continue;
                    foreach (var file in Directory.GetFiles(eventsDir).OrderBy(f => f, StringComparer.Ordinal))
                    {
                        var alias = Path.GetFileName(file);
                        if (alias.Contains('.')) continue; // .scale and .unit companions
                        PerfEventSpec spec;
                        try { spec = PerfEventCatalog.Parse($"{pmu}/{alias}/"); }
                        catch (KernelDebugException) { continue; }
                        if (!wantKind(spec.Kind)) continue;
                        var terms = ControlFile.TryReadText(file, out _)?.Trim();
                        yield return new PerfEventSpec { Name = spec.Name, Kind = spec.Kind, TypeId = spec.TypeId, Config = spec.Config, Config1 = spec.Config1, Config2 = spec.Config2, Description = $"Kernel PMU event ({terms})" };
                    }
                }
            if (wantKind(PerfEventKind.Tracepoint) && PerfEventCatalog.TracingEventsDir() is { } dir && Directory.Exists(dir))
            {
                foreach (var group in Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
                    foreach (var ev in Directory.GetDirectories(group).OrderBy(d => d, StringComparer.Ordinal))
                    {
                        var id = ControlFile.TryReadText(Path.Combine(ev, "id"), out _);
                        if (id is null || !ulong.TryParse(id.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var config)) continue;
                        yield return new PerfEventSpec
                        {
                            Name = $"{Path.GetFileName(group)}:{Path.GetFileName(ev)}", Kind = PerfEventKind.Tracepoint, TypeId = (uint)PerfTypeId.Tracepoint,
                            Config = config, Description = "Tracepoint event",
                        };
                    }
            }
        }

        /// <summary>Opens the event on this process (disabled) and closes it: 0 when it opens, else the errno.</summary>
        public static int TryOpen(PerfEventSpec spec)
        {
            var attr = spec.ToAttr(PerfAttrFlags.Disabled);
            using var fd = new SafeFileDescriptor(Interop.perf_event_open(ref attr, 0, -1, -1, Interop.PERF_FLAG_FD_CLOEXEC));
            if (!fd.IsInvalid) return 0;
            int err = Errno.Last;
            if (err is not (Errno.EACCES or Errno.EPERM) || spec.ExcludeKernel) return err;
            // As perf does under perf_event_paranoid=2: fall back to counting user space only.
            attr = spec.UserOnly().ToAttr(PerfAttrFlags.Disabled);
            using var userOnly = new SafeFileDescriptor(Interop.perf_event_open(ref attr, 0, -1, -1, Interop.PERF_FLAG_FD_CLOEXEC));
            return userOnly.IsInvalid ? Errno.Last : 0;
        }

        public static PerfEventInfo Describe(PerfEventSpec spec, bool test)
        {
            if (!test) return new PerfEventInfo(spec.Name, spec.Kind, spec.Config, spec.Description, false, "not tested");
            int err = TryOpen(spec);
            return new PerfEventInfo(spec.Name, spec.Kind, spec.Config, spec.Description, err == 0, err == 0 ? null : ExplainOpenError(err));
        }

        /// <summary>At most this many tracepoints are opened one by one; each open waits ~40 ms for the kernel to patch the call site, serialized.</summary>
        public const int TracepointsTestedEach = 64;

        /// <summary>
        /// Tests events by opening each. Tracepoints beyond TracepointsTestedEach are judged by opening one of them
        /// (they share one kernel mechanism); ftrace's own events (ftrace:*) are never openable by perf.
        /// </summary>
        public static IEnumerable<PerfEventInfo> DescribeAll(IReadOnlyList<PerfEventSpec> specs)
        {
            bool eachTracepoint = specs.Count(s => s.Kind == PerfEventKind.Tracepoint) <= TracepointsTestedEach;
            int? tracepointErr = null;
            foreach (var s in specs)
            {
                if (s.Kind != PerfEventKind.Tracepoint || eachTracepoint) { yield return Describe(s, test: true); continue; }
                if (s.Name.StartsWith("ftrace:", StringComparison.Ordinal))
                { yield return new PerfEventInfo(s.Name, s.Kind, s.Config, s.Description, false, "ftrace's internal events cannot be opened by perf_event_open"); continue; }
                tracepointErr ??= TryOpen(s);
                yield return new PerfEventInfo(s.Name, s.Kind, s.Config, s.Description, tracepointErr == 0, tracepointErr == 0 ? null : ExplainOpenError(tracepointErr.Value));
            }
        }

        public static string ExplainOpenError(int errno) => errno switch
        {
            Errno.ENOENT or Errno.EOPNOTSUPP or Errno.ENODEV => $"{Errno.Name(errno)}: this host cannot count it (perf's <not supported>)",
            Errno.EACCES or Errno.EPERM => $"{Errno.Name(errno)}: not allowed at perf_event_paranoid={Paranoid()}",
            _ => $"{Errno.Name(errno)}: {Errno.Message(errno)}",
        };

        public static int Paranoid() => CapabilityProbe.Paranoid;
    }
}

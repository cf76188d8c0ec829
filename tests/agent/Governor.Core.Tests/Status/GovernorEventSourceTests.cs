using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Governor.Core.Status;
using Xunit;

namespace Governor.Core.Tests.Status;

public sealed class GovernorEventSourceTests
{
    [Fact]
    public void EventSource_ListenerEnablesIt_StatusEventArrivesWithoutEventSourceErrors()
    {
        var hub = new StatusHub();
        GovernorEventSource.Log.Attach(hub, () => (1, 0, 1));
        using var listener = new Listener();

        listener.EnableEvents(GovernorEventSource.Log, EventLevel.Informational);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline && !listener.Events.Any(e => e.EventId == 1))
        {
            Thread.Sleep(20);
        }

        // Event 0 is EventSource's own error report (e.g. a clash of event IDs in the manifest).
        Assert.DoesNotContain(listener.Events, e => e.EventId == 0);
        var status = Assert.Single(listener.Events.Where(e => e.EventId == 1).Take(1));
        Assert.Equal("Status", status.EventName);
        Assert.Contains("\"schema\": \"governor-status/v1\"", (string)status.Payload![0]!);
    }

    private sealed class Listener : EventListener
    {
        public ConcurrentQueue<EventWrittenEventArgs> Events { get; } = new();

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventSource.Name == "Governor")
            {
                Events.Enqueue(eventData);
            }
        }
    }
}

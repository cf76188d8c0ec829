namespace Governor.Interception;

/// <summary>
/// Marks an exception that a handler raises on purpose to fail the intercepted call instead of
/// letting it go on — e.g. the throttle plugin's <c>ThrottledException</c> for an outbound call it
/// rejects. A provider passes such an exception to the caller as the call's own failure (thrown
/// from a synchronous send, a faulted task from an asynchronous one), after running the
/// completion callbacks of the handlers that ran. Any other exception that comes out of a handler
/// (thrown, or a faulted <see cref="ValueTask{TResult}"/>) is a fault in Governor: the provider
/// logs it and lets the call go on (fail-open). A marker interface rather than a base class, so
/// that the exception can still derive from what the app already catches
/// (<see cref="HttpRequestException"/>, <c>DbException</c>).
/// </summary>
public interface IGovernorRejection
{
}

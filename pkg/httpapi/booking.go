package httpapi

// bookingErrors maps the booking domain's named errors; see domainErrors.
var bookingErrors = []struct {
	target error
	err    *Error
}{}

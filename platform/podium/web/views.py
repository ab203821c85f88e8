from django.http import HttpResponse


def home(request):
    return HttpResponse("Podium")


def login_placeholder(request):
    return HttpResponse("login")
